// app: the Slack app people install and talk to: the OAuth install for any number of workspaces
// (install.hpp), /study (commands.hpp), uninstalls and revoked tokens (lifecycle.hpp).
// The host (libs/service) reads the settings, migrates, serves the ops port, stops in order.
#include <tracker/service/host.hpp>

#include <tracker/app/service.hpp>
#include <tracker/app/settings.hpp>

using namespace tracker;

service::Component build(service::Host& host, const app::Settings& s) {
  for (const auto* secret : {&s.client_secret, &s.token_keys, &s.bot_token}) {
    host.redact(*secret);
  }
  auto& slack_http = host.http_client({.base_url = s.slack_base_url,
                                       .max_connections = 8,
                                       .request_timeout = s.request_timeout,
                                       .ca_file = s.slack_ca_file});
  auto& responses = host.http_client(
      {.base_url = s.response_origin, .max_connections = 8, .request_timeout = s.request_timeout});
  auto& events = host.consumer({.brokers = s.common.brokers,
                                .group_id = s.group_id,
                                .topics = {s.topic},
                                .client_id = "app",
                                .settings = {{"queued.max.messages.kbytes", "4096"}}});
  auto& commands = host.consumer({.brokers = s.common.brokers,
                                  .group_id = s.group_id + "-commands",
                                  .topics = {s.command_topic},
                                  .client_id = "app-commands"});
  auto claim = app::summary_claim(host, s);
  auto& app =
      host.make<app::Service>(host.executor(), host.pool(), slack_http, responses, std::move(claim),
                              events, commands, s, host.registry(), host.logger());
  return service::component(
      app, {{"public_url", s.public_url}, {"slack", s.slack_base_url}, {"topic", s.topic}});
}

int main() {
  return service::run("app", app::load_settings, build);
}
