#pragma once
// The service host: what every service does the same way around its own work.
//
//   int main() {
//     return service::run("worker", worker::load_settings,
//                         [](service::Host& host, const worker::Settings& s) {
//                           auto& consumer = host.consumer({...});
//                           auto& worker = host.make<worker::Worker>(...);
//                           return service::component(worker, {{"topic", s.topic}});
//                         });
//   }
//
// run() reads the settings (a bad one: exit 2, one log line naming every bad variable) and makes
// the logger (the database password redacted), the metrics registry, the event loop and, for a
// service with a database, the connection pool. `build` makes the service's own objects on the
// Host and returns the Component to run; a setting its objects refuse (config::ConfigError) exits
// 2, any other failure to build (a Kafka client refusing its configuration) exits 1, each with a
// log line. Then, in this order:
//   1. the ops endpoint listens (/metrics, /healthz, /readyz and the routes the service added)
//      and the component binds its own ports; an address taken: exit 1;
//   2. with a database: migrations are applied once it answers (waited for with capped backoff
//      and a log line per attempt, never a crash loop), then the service's startup checks run
//      (a setting the database refuses, such as an unknown time zone: exit 1);
//   3. "started"; the component runs until SIGTERM or SIGINT, which calls its stop(grace) with
//      TRACKER_SHUTDOWN_GRACE;
//   4. consumers leave their groups, producers flush what they hold, HTTP clients close, the
//      ops endpoint stops: "stopped", exit 0 (1 if the component failed or anything threw).
//
// /readyz: "kafka" passes while every consumer sees its broker and every producer knows its
// topics; "postgresql" while the database is prepared (step 2), the pool reaches it and the
// component is ready. A service without a database folds its component's readiness into "kafka".
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include <tracker/async/event.hpp>
#include <tracker/async/event_loops.hpp>
#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/http/client.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/schema/migrations.hpp>
#include <tracker/service/settings.hpp>

namespace tracker::service {

namespace asio = boost::asio;

// Exit codes, as orchestrators read them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;            // the work failed, or a port or client did not
inline constexpr int kExitBadConfiguration = 2;  // a setting is missing or malformed

// What the host runs: a consume loop, a scheduler, a server.
struct Component {
  // Works until stop(); false when it failed beyond recovery (exit 1).
  std::function<asio::awaitable<bool>()> run;
  // Asks the work to end, letting what it holds finish for up to `grace`. Called once, on the
  // event loop.
  std::function<void(std::chrono::milliseconds grace)> stop;
  // The component's own readiness (its database writes go through, its queue drains).
  std::function<bool()> ready;
  // Binds the component's own listening ports, before "started"; throws if an address is taken.
  std::function<void()> listen;
  // Fields of the "shutting_down" line (what the component still holds).
  std::function<nlohmann::json()> status;
  // Fields of the "started" line (the ops port is added, and the component's own port when it
  // has one: bound by listen(), so a port of 0 reads as the one the kernel chose).
  nlohmann::json started = nlohmann::json::object();
  std::function<std::uint16_t()> port;
};

// A Component of any type with run(), stop(grace) and ready(); listen() if it has one, and
// what it holds (buffered() or in_flight()) in the shutting_down line if it says.
template <typename Work>
Component component(Work& work, nlohmann::json started) {
  Component c;
  c.run = [&work] { return work.run(); };
  c.stop = [&work](std::chrono::milliseconds grace) { work.stop(grace); };
  c.ready = [&work] { return work.ready(); };
  if constexpr (requires { work.listen(); }) c.listen = [&work] { work.listen(); };
  if constexpr (requires { work.port(); }) c.port = [&work] { return work.port(); };
  if constexpr (requires { work.buffered(); }) {
    c.status = [&work] { return nlohmann::json{{"buffered", work.buffered()}}; };
  } else if constexpr (requires { work.in_flight(); }) {
    c.status = [&work] { return nlohmann::json{{"in_flight", work.in_flight()}}; };
  }
  c.started = std::move(started);
  return c;
}

class Host {
 public:
  Host(std::string name, Settings settings);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const Settings& settings() const noexcept { return settings_; }
  [[nodiscard]] log::Logger& logger() noexcept { return logger_; }
  [[nodiscard]] prometheus::Registry& registry() noexcept { return *registry_; }
  [[nodiscard]] asio::any_io_executor executor() { return io_.get_executor(); }
  // Single-threaded event loops for the component's connections (TRACKER_IO_THREADS of them,
  // made on the first call): see async::EventLoops and http::Server. They outlive the clients,
  // so a producer's last delivery reports still find the loop they were awaited on.
  [[nodiscard]] std::vector<asio::any_io_executor> event_loops();
  // The service's pool; throws std::logic_error for a service without a database.
  [[nodiscard]] pg::Pool& pool();
  // Threads for calls that block (librdkafka's close and flush).
  [[nodiscard]] asio::thread_pool& blocking() noexcept { return blocking_; }

  // Keeps `value` out of every log line (a token, a key).
  void redact(const config::Secret& value);

  // Kafka and HTTP clients the host owns and closes in the shutdown order above.
  kafka::Consumer& consumer(kafka::ConsumerOptions options);
  // `flush_timeout`: how long the shutdown waits for the producer's queue to drain.
  kafka::Producer& producer(kafka::ProducerOptions options,
                            std::chrono::milliseconds flush_timeout = std::chrono::seconds{5});
  http::Client& http_client(http::ClientOptions options);

  // Any other object of the service, destroyed in the reverse order of making, before the
  // clients and the pool it may use.
  template <typename T, typename... Args>
  T& make(Args&&... args) {
    auto object = std::make_shared<T>(std::forward<Args>(args)...);
    T& ref = *object;
    objects_.push_back(std::move(object));
    return ref;
  }

  // A check that runs once the migrations are applied; it is tried again while its failure is
  // pg::Disposition::retryable (the database away), and any other failure stops the service
  // with "invalid_configuration" naming `setting`.
  using StartupCheck = std::function<asio::awaitable<pg::Result<void>>()>;
  void add_startup_check(std::string setting, StartupCheck check);

  // The ops endpoint's options (before run(): a service may raise max_connections or change
  // the metric prefix) and the service's own routes on it.
  [[nodiscard]] metrics::OpsEndpointOptions& ops_options() noexcept { return ops_options_; }
  void add_route(std::string path, metrics::RouteHandler handler);

  // The database is migrated and the startup checks passed.
  [[nodiscard]] bool database_ready() const noexcept { return database_ready_; }

  // Builds the component (see above) and runs it to the end; returns the exit code.
  int run(const std::function<Component(Host&)>& build);

 private:
  struct OwnedProducer {
    std::unique_ptr<kafka::Producer> producer;
    std::chrono::milliseconds flush_timeout;
  };

  asio::awaitable<schema::Startup> prepare_database();
  asio::awaitable<void> close_clients();
  [[nodiscard]] bool clients_ready() const;

  std::string name_;
  Settings settings_;
  log::Logger logger_;
  asio::io_context io_{1};
  std::unique_ptr<async::EventLoops> loops_;
  asio::thread_pool blocking_{1};
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<pg::Pool> pool_;
  std::vector<std::unique_ptr<kafka::Consumer>> consumers_;
  std::vector<OwnedProducer> producers_;
  std::vector<std::unique_ptr<http::Client>> http_clients_;
  std::vector<schema::StartupCheck> startup_checks_;
  metrics::OpsEndpointOptions ops_options_;
  std::vector<std::pair<std::string, metrics::RouteHandler>> routes_;
  bool database_ready_ = false;
  async::Event stop_requested_;                 // set by SIGTERM/SIGINT
  std::vector<std::shared_ptr<void>> objects_;  // last: destroyed first
};

// Logs a settings failure the way every service does (one line, every bad variable).
void report_bad_configuration(const std::string& service, const std::string& detail);

// The whole life of a service whose Settings has the common settings as `common`.
template <typename S, typename Build>
requires requires(S s) {
  s.common;
}
int run(const std::string& name, S (*load)(config::Env&), Build build) {
  S settings;
  try {
    config::Env env;
    settings = load(env);
  } catch (const config::ConfigError& error) {
    report_bad_configuration(name, error.what());
    return kExitBadConfiguration;
  }
  Host host(name, settings.common);
  return host.run([&](Host& h) { return build(h, settings); });
}

}  // namespace tracker::service
