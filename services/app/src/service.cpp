#include <tracker/app/service.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace tracker::app {

namespace asio = boost::asio;

Service::Service(asio::any_io_executor executor, pg::Pool& pool, http::Client& slack_http,
                 http::Client& responses, SummaryClaim claim, kafka::Consumer& events,
                 kafka::Consumer& commands, const Settings& settings,
                 prometheus::Registry& registry, log::Logger& logger)
    : logger_(logger),
      prune_interval_(settings.prune_interval),
      state_lifetime_(settings.state_lifetime),
      cipher_(slack::TokenCipher::parse(settings.token_keys.reveal())),
      store_(pool, cipher_),
      oauth_(slack_http, settings.client_id, settings.client_secret),
      install_({.client_id = settings.client_id,
                .authorize_url = settings.authorize_url,
                .redirect_uri = settings.redirect_uri(),
                .secure_cookie = settings.public_url.starts_with("https://")},
               slack::StateSigner(cipher_.derive("oauth-state"), settings.state_lifetime), oauth_,
               store_, registry, logger),
      server_(
          executor,
          {.address = settings.address,
           .port = settings.port,
           .max_connections = 1'000,
           .body_limit = 64 * 1024,
           .route_label = &InstallHandler::route_label},
          [this](http::Request& request) { return install_.handle(request); }, registry, logger),
      stop_(executor),
      events_(events),
      commands_in_(commands),
      lifecycle_(events, store_, stop_, settings.retention, registry, logger),
      study_(pool, settings.person_defaults),
      commands_(
          study_, responses, std::move(claim),
          [this](const std::string& team_id, const std::string& user_id) {
            return home_.publish(team_id, user_id);
          },
          stop_, registry, logger),
      web_api_(slack_http),
      time_zones_(study_, store_, web_api_, settings.bot_token, stop_,
                  {.lookups_per_minute = settings.users_info_per_minute}, registry, logger),
      home_(study_, store_, web_api_, settings.bot_token, settings.home_min_interval, registry,
            logger) {}

SummaryClaim summary_claim(service::Host& host, const Settings& settings) {
  using namespace std::chrono_literals;
  auto& requests = host.producer({.brokers = settings.common.brokers,
                                  .client_id = "app-summaries",
                                  .message_timeout = 30s,
                                  .linger = 5ms,
                                  .settings = {{"enable.sparse.connections", "false"}},
                                  .topics = {settings.summary_topic}},
                                 10s);
  auto& registry = host.make<prometheus::Registry>();
  scheduler::SchedulerOptions options;
  options.topic = settings.summary_topic;
  options.instance = settings.instance;
  auto& claimer = host.make<scheduler::Scheduler>(host.executor(), host.pool(), requests, registry,
                                                  host.logger(), options);
  return [&claimer](scheduler::TriggerRequest request) {
    return claimer.trigger(std::move(request), std::chrono::system_clock::now());
  };
}

asio::awaitable<bool> Service::run() {
  // A key rotation: move every token to the first key, so that the old ones can go.
  if (auto resealed = co_await store_.reseal(); !resealed) {
    logger_.warn("reseal_failed", {{"error", resealed.error().describe()}});
  } else if (resealed->resealed > 0 || resealed->unreadable > 0) {
    logger_.log(resealed->unreadable > 0 ? log::Level::error : log::Level::info, "tokens_resealed",
                {{"resealed", resealed->resealed},
                 {"unreadable", resealed->unreadable},
                 {"key_id", cipher_.current_key_id()}});
  }
  using namespace asio::experimental::awaitable_operators;
  const auto [pruned, consumed, commanded] =
      co_await (prune() && consume_events() && consume_commands());
  const auto grace =
      stop_.abandoned() ? std::chrono::milliseconds{0} : std::chrono::milliseconds{2'000};
  const std::size_t forced = co_await server_.shutdown(grace);
  logger_.info("connections_closed", {{"closed_by_force", forced}});
  stop_.finish();
  co_return pruned&& consumed&& commanded;
}

asio::awaitable<bool> Service::consume(
    kafka::Consumer& consumer, std::function<asio::awaitable<bool>(const kafka::Message&)> handle) {
  while (!stop_.requested()) {
    auto batch = co_await consumer.poll_batch(500, std::chrono::milliseconds{200});
    if (!batch) {
      logger_.error("consumer_failed", {{"error", batch.error().message()}});
      co_return false;
    }
    for (const auto& record : *batch) {
      if (!co_await handle(record)) co_return true;  // abandoned: left unacknowledged
      (void)consumer.store_offset(record);
    }
  }
  co_return true;
}

asio::awaitable<bool> Service::consume_events() {
  co_return co_await consume(events_,
                             [this](const kafka::Message& record) -> asio::awaitable<bool> {
                               const auto type = record.header("event_type");
                               if (type && (*type == "message" || *type == "user_change")) {
                                 co_return co_await time_zones_.handle(record, *type);
                               }
                               if (type && *type == "app_home_opened") {
                                 co_await home_.handle(record);
                                 co_return true;
                               }
                               co_return co_await lifecycle_.handle(record);
                             });
}

asio::awaitable<bool> Service::consume_commands() {
  co_return co_await consume(
      commands_in_, [this](const kafka::Message& record) { return commands_.run(record); });
}

asio::awaitable<bool> Service::prune() {
  while (co_await stop_.sleep(prune_interval_)) {
    if (auto purged = co_await store_.purge_expired(); !purged) {
      logger_.warn("purge_failed", {{"error", purged.error().describe()}});
    } else {
      for (const auto& team_id : *purged) logger_.warn("workspace_deleted", {{"team_id", team_id}});
    }
    if (auto pruned = co_await store_.prune_states(state_lifetime_); !pruned) {
      logger_.warn("prune_failed", {{"error", pruned.error().describe()}});
    } else if (*pruned > 0) {
      logger_.debug("oauth_states_pruned", {{"deleted", *pruned}});
    }
  }
  co_return true;
}

}  // namespace tracker::app
