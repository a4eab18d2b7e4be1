// worker: study logs from the slack-events topic into PostgreSQL, in batches, each event once
// (worker.hpp). The host (libs/service) reads the settings, migrates, serves the ops port and
// runs the shutdown order.
#include <tracker/service/host.hpp>

#include <tracker/worker/settings.hpp>
#include <tracker/worker/worker.hpp>

using namespace tracker;
using namespace std::chrono_literals;

service::Component build(service::Host& host, const worker::Settings& s) {
  auto& consumer = host.consumer(
      {.brokers = s.common.brokers,
       .group_id = s.group_id,
       .topics = {s.topic},
       .client_id = "worker",
       // Bounds what librdkafka prefetches while the lanes are full. librdkafka 2.0 waits a
       // fixed second before fetching again once this fills, so it must hold more than a
       // second's work: at 16 MB a backlog drained at under 10,000 events/s.
       .settings = {{"queued.max.messages.kbytes", std::to_string(s.prefetch_kbytes)}}});
  // Connected before the first dead letter, so that readiness means the broker takes one.
  auto& dead_letters = host.producer({.brokers = s.common.brokers,
                                      .client_id = "worker-dlq",
                                      .message_timeout = 10s,
                                      .settings = {{"enable.sparse.connections", "false"}},
                                      .topics = {s.dlq_topic}});
  auto& store = host.make<worker::Store>(host.pool(), s.user_defaults);
  host.add_startup_check("TRACKER_DEFAULT_TIME_ZONE", [&store, zone = s.user_defaults.time_zone] {
    return store.check_time_zone(zone);
  });
  auto& w = host.make<worker::Worker>(host.executor(), consumer, dead_letters, store,
                                      host.registry(), host.logger(), worker::worker_options(s));
  return service::component(
      w, {{"topic", s.topic}, {"group", s.group_id}, {"inflight_batches", s.lanes}});
}

int main() {
  return service::run("worker", worker::load_settings, build);
}
