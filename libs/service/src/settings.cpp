#include <tracker/service/settings.hpp>

#include <unistd.h>

#include <stdexcept>

#include <tracker/http/client.hpp>

namespace tracker::service {

using namespace std::chrono_literals;

Settings load_common(config::Env& env, const Defaults& defaults) {
  Settings s;
  s.brokers = env.kafka_brokers("KAFKA_BROKERS");
  if (defaults.database) {
    DatabaseSettings& db = s.database.emplace();
    db.url = env.required("DATABASE_URL");
    db.schema = env.sql_identifier("TRACKER_DB_SCHEMA");
    db.pool_size = static_cast<std::size_t>(
        env.integer("TRACKER_DB_POOL_SIZE", defaults.db_pool_size, defaults.db_pool_min, 256));
    db.query_timeout =
        env.duration("TRACKER_DB_QUERY_TIMEOUT", defaults.db_query_timeout, 100ms, 10min);
    db.retry_max = env.duration("TRACKER_DB_RETRY_MAX_INTERVAL", 5s, 100ms, 5min);
    db.migrate = env.flag("TRACKER_MIGRATE_ON_START", true);
  }
  s.ops_address = env.optional("TRACKER_OPS_ADDRESS", "127.0.0.1");
  s.ops_port = env.listen_port("TRACKER_OPS_PORT", defaults.ops_port);
  s.shutdown_grace = env.duration("TRACKER_SHUTDOWN_GRACE", 10s, 0ms, 5min);
  const std::string level =
      env.one_of("TRACKER_LOG_LEVEL", "info", {"debug", "info", "warn", "error"});
  s.log_level = log::parse_level(level).value_or(log::Level::info);
  return s;
}

std::string load_base_url(config::Env& env, const std::string& name, std::string fallback) {
  std::string url = env.optional(name, std::move(fallback));
  try {
    static_cast<void>(http::Origin::parse(url));
  } catch (const std::invalid_argument& error) {
    env.fail(name, error.what());
  }
  return url;
}

std::string default_instance(const std::string& service) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return (host[0] != '\0' ? std::string(host) : service) + "-" + std::to_string(::getpid());
}

}  // namespace tracker::service
