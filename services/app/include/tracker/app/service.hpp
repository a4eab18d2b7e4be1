#pragma once
// The Slack app as the service host runs it: the OAuth install (install.hpp) served on
// TRACKER_APP_ADDRESS:TRACKER_APP_PORT; one consumer reading the workspace lifecycle events of
// slack-events (lifecycle.hpp) and the /study commands of slack-commands (commands.hpp).
//   listen(): binds the port;
//   run():    first seals again with the current key every token sealed under an older one
//             (a key rotation); then, until stop(grace), serves, reads the lifecycle events,
//             and every TRACKER_PRUNE_INTERVAL deletes the data of workspaces whose retention
//             after an uninstall has passed and forgets used OAuth states past their expiry;
//             requests in progress then get up to 2 s.
#include <chrono>
#include <cstdint>
#include <functional>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/http/client.hpp>
#include <tracker/http/server.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/service/host.hpp>
#include <tracker/slack/oauth.hpp>
#include <tracker/slack/token_cipher.hpp>
#include <tracker/workspaces/workspace_store.hpp>

#include <tracker/app/commands.hpp>
#include <tracker/app/home.hpp>
#include <tracker/app/install.hpp>
#include <tracker/app/lifecycle.hpp>
#include <tracker/app/settings.hpp>
#include <tracker/app/time_zones.hpp>

namespace tracker::app {

// /study summary's claim: a scheduler::Scheduler on the host (its producer writes to
// settings.summary_topic) whose trigger() is the claim. It never ticks; its metrics go to a
// registry of their own, so that the app never exposes the scheduler's tick gauges (which the
// alerts read); the app counts summaries in tracker_app_commands_total.
SummaryClaim summary_claim(service::Host& host, const Settings& settings);

class Service {
 public:
  // `events` reads settings.topic, `commands` settings.command_topic (each in a group of its
  // own, so that a backlog of events never holds a command back); `responses`' origin is
  // settings.response_origin.
  Service(boost::asio::any_io_executor executor, pg::Pool& pool, http::Client& slack_http,
          http::Client& responses, SummaryClaim claim, kafka::Consumer& events,
          kafka::Consumer& commands, const Settings& settings, prometheus::Registry& registry,
          log::Logger& logger);

  void listen() { server_.start(); }
  boost::asio::awaitable<bool> run();
  void stop(std::chrono::milliseconds grace) { stop_.request(grace); }
  [[nodiscard]] bool ready() const { return true; }
  [[nodiscard]] std::uint16_t port() const noexcept { return server_.port(); }

 private:
  log::Logger& logger_;
  std::chrono::milliseconds prune_interval_;
  std::chrono::seconds state_lifetime_;
  slack::TokenCipher cipher_;
  workspaces::WorkspaceStore store_;
  slack::OAuthClient oauth_;
  InstallHandler install_;
  http::Server server_;
  async::GracefulStop stop_;
  kafka::Consumer& events_;
  kafka::Consumer& commands_in_;
  Lifecycle lifecycle_;
  StudyStore study_;
  Commands commands_;
  slack::WebApi web_api_;
  TimeZones time_zones_;
  AppHome home_;

  boost::asio::awaitable<bool> prune();
  boost::asio::awaitable<bool> consume(
      kafka::Consumer& consumer,
      std::function<boost::asio::awaitable<bool>(const kafka::Message&)> handle);
  boost::asio::awaitable<bool> consume_events();
  boost::asio::awaitable<bool> consume_commands();
};

}  // namespace tracker::app
