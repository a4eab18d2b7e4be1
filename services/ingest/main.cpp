// ingest: the Slack Events API endpoint (service.hpp, ingest_handler.hpp): 200 only for what
// Kafka acknowledged. The host (libs/service) reads the settings, serves the ops port, runs the
// connections on TRACKER_IO_THREADS event loops (a thread each) and the shutdown order.
#include <tracker/service/host.hpp>

#include <tracker/ingest/service.hpp>
#include <tracker/ingest/settings.hpp>

using namespace tracker;

service::Component build(service::Host& host, const ingest::Settings& s) {
  host.redact(s.signing_secret);
  host.redact(s.previous_signing_secret);
  auto& producer = host.producer({.brokers = s.common.brokers,
                                  .client_id = "ingest",
                                  .linger = s.producer_linger,
                                  .queue_max_messages = s.producer_queue_messages,
                                  .settings = {{"socket.nagle.disable", "true"},
                                               {"max.in.flight.requests.per.connection",
                                                std::to_string(s.producer_max_in_flight)},
                                               {"compression.type", s.producer_compression}},
                                  .topics = {s.topic, s.command_topic}});
  auto& ingest = host.make<ingest::Service>(host.executor(), host.event_loops(), producer, s,
                                            host.registry(), host.logger());
  return service::component(ingest, {{"topic", s.topic},
                                     {"io_threads", s.common.io_threads},
                                     {"publish_deadline_ms", s.publish_deadline.count()}});
}

int main() {
  return service::run("ingest", ingest::load_settings, build);
}
