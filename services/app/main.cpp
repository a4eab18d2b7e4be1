// app: the Slack app people install and talk to. For now its own port serves the OAuth install
// for any number of workspaces (install.hpp); the bot tokens are kept sealed in PostgreSQL. The
// host (libs/service) reads the settings, migrates, serves the ops port, stops in order.
#include <tracker/service/host.hpp>

#include <tracker/app/service.hpp>
#include <tracker/app/settings.hpp>

using namespace tracker;

service::Component build(service::Host& host, const app::Settings& s) {
  host.redact(s.client_secret);
  host.redact(s.token_keys);
  auto& slack_http = host.http_client({.base_url = s.slack_base_url,
                                       .max_connections = 8,
                                       .request_timeout = s.request_timeout,
                                       .ca_file = s.slack_ca_file});
  auto& app = host.make<app::Service>(host.executor(), host.pool(), slack_http, s, host.registry(),
                                      host.logger());
  return service::component(app, {{"public_url", s.public_url}, {"slack", s.slack_base_url}});
}

int main() {
  return service::run("app", app::load_settings, build);
}
