// notifier: posts the slack-outbox topic's messages to Slack, paced, each once, with each
// workspace's token (notifier.hpp, tokens.hpp). The host (libs/service) runs the rest.
#include <tracker/service/host.hpp>

#include <tracker/notifier/ledger.hpp>
#include <tracker/notifier/notifier.hpp>
#include <tracker/notifier/settings.hpp>
using namespace tracker;
using namespace std::chrono_literals;

service::Component build(service::Host& host, const notifier::Settings& s) {
  for (const auto* secret : {&s.bot_token, &s.token_keys}) host.redact(*secret);
  auto& slack_http = host.http_client({.base_url = s.slack_base_url,
                                       .max_connections = s.connections,
                                       .request_timeout = s.request_timeout,
                                       .ca_file = s.slack_ca_file});
  // Posting is paced at a few per second: a small prefetch is plenty, and it bounds what a
  // paused consumer still hands over.
  auto& consumer = host.consumer({.brokers = s.common.brokers,
                                  .group_id = s.group_id,
                                  .topics = {s.topic},
                                  .client_id = "notifier",
                                  .settings = {{"queued.max.messages.kbytes", "2048"}}});
  auto& dead_letters = host.producer({.brokers = s.common.brokers,
                                      .client_id = "notifier-dlq",
                                      .message_timeout = 10s,
                                      .settings = {{"enable.sparse.connections", "false"}},
                                      .topics = {s.options.dlq_topic}});
  auto& slack = host.make<slack::WebApi>(slack_http);
  auto& tokens = notifier::make_tokens(host, s.bot_token, s.token_keys);
  auto& ledger = host.make<notifier::DeliveryLedger>(host.pool());
  auto& n = host.make<notifier::Notifier>(host.executor(), consumer, dead_letters, slack, tokens,
                                          ledger, host.registry(), host.logger(), s.options);
  return service::component(
      n, {{"topic", s.topic}, {"instance", s.options.instance}, {"slack", s.slack_base_url}});
}

int main() {
  return service::run("notifier", notifier::load_settings, build);
}
