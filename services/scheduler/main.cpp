// scheduler: claims the daily summaries that are due and publishes them to summary-requests
// (scheduler.hpp); POST /trigger on its ops port asks for them now (trigger.hpp). The host
// (libs/service) reads the settings, migrates, serves the ops port and runs the shutdown order.
#include <tracker/service/host.hpp>

#include <tracker/scheduler/scheduler.hpp>
#include <tracker/scheduler/settings.hpp>
#include <tracker/scheduler/trigger.hpp>

using namespace tracker;
using namespace std::chrono_literals;

service::Component build(service::Host& host, const scheduler::Settings& s) {
  host.redact(s.admin_token);
  auto& requests = host.producer({.brokers = s.common.brokers,
                                  .client_id = "scheduler",
                                  .message_timeout = 30s,
                                  .linger = 5ms,
                                  .settings = {{"enable.sparse.connections", "false"}},
                                  .topics = {s.options.topic}},
                                 10s);
  auto& sched = host.make<scheduler::Scheduler>(host.executor(), host.pool(), requests,
                                                host.registry(), host.logger(), s.options);
  // The ops port is the trigger's API too: its HTTP metrics are tracker_http_*.
  host.ops_options().max_connections = 256;
  host.ops_options().metric_prefix = "tracker_http";
  host.add_route("/trigger", scheduler::trigger_route(
                                 s.admin_token, [&host] { return host.database_ready(); },
                                 [&sched](const http::Request& request) {
                                   return sched.handle_trigger(request);
                                 }));
  return service::component(sched, {{"topic", s.options.topic},
                                    {"instance", s.options.instance},
                                    {"trigger", s.admin_token.empty() ? "disabled" : "enabled"}});
}

int main() {
  return service::run("scheduler", scheduler::load_settings, build);
}
