// summarizer: writes the summaries summary-requests asks for, with OpenAI or offline, into
// slack-outbox (summarizer.hpp). The host (libs/service) does the rest, the same for all.
#include <tracker/service/host.hpp>

#include <tracker/summarizer/model.hpp>
#include <tracker/summarizer/store.hpp>
#include <tracker/summarizer/summarizer.hpp>

using namespace tracker;
using namespace std::chrono_literals;

service::Component build(service::Host& host, const summarizer::Settings& s) {
  host.redact(s.api_key);
  const auto& o = s.options;
  const summarizer::Model model = summarizer::make_model(host, s);
  // A job can wait minutes for the model's rate limits; the consumer is polled all the while.
  auto& consumer = host.consumer({.brokers = s.common.brokers,
                                  .group_id = s.group_id,
                                  .topics = {s.topic},
                                  .client_id = "summarizer",
                                  .max_poll_interval = 600s});
  auto& producer = host.producer({.brokers = s.common.brokers,
                                  .client_id = "summarizer",
                                  .message_timeout = 30s,
                                  .settings = {{"enable.sparse.connections", "false"}},
                                  .topics = {o.outbox_topic, o.dlq_topic}},
                                 10s);
  auto& store = host.make<summarizer::Store>(host.pool());
  store.set_first_poll(o.batch_poll_initial);
  auto& sum =
      host.make<summarizer::Summarizer>(host.executor(), consumer, producer, store, model.chat,
                                        model.batches, host.registry(), host.logger(), o);
  return service::component(sum,
                            {{"topic", s.topic}, {"provider", o.provider}, {"batch", o.batch}});
}

int main() {
  return service::run("summarizer", summarizer::load_settings, build);
}
