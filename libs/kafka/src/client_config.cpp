#include <tracker/kafka/client_config.hpp>

#include <array>

namespace tracker::kafka {

ConfPtr make_conf(const Settings& settings) {
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size()) !=
        RD_KAFKA_CONF_OK) {
      throw ConfigurationError("Kafka setting " + key + ": " + error.data());
    }
  }
  return conf;
}

std::shared_ptr<rd_kafka_t> make_client(rd_kafka_type_t type, ConfPtr conf,
                                        std::shared_ptr<void> callback_context) {
  std::array<char, 512> error{};
  rd_kafka_t* client = rd_kafka_new(type, conf.get(), error.data(), error.size());
  if (client == nullptr) {
    throw ConfigurationError(std::string("cannot create Kafka client: ") + error.data());
  }
  static_cast<void>(conf.release());  // rd_kafka_new took ownership
  return std::shared_ptr<rd_kafka_t>(
      client, [context = std::move(callback_context)](rd_kafka_t* rk) { rd_kafka_destroy(rk); });
}

}  // namespace tracker::kafka
