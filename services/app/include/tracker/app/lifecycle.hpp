#pragma once
// The workspace lifecycle events of slack-events, read by the app in a consumer group of its own
// (TRACKER_APP_GROUP, "app"; the worker reads the same topic for the study logs):
//   app_uninstalled                   the app was removed from the workspace;
//   tokens_revoked with a bot token   the workspace's bot token no longer works.
// Either removes the workspace's token at once (WorkspaceStore::revoke): the notifier's next
// lookup finds none and dead-letters what is queued for the workspace (workspace_uninstalled),
// and the workspace's data is deleted TRACKER_WORKSPACE_RETENTION later. An event older than the
// workspace's latest install changes nothing. Every other event is skipped, by the record's
// event_type header (ingest sets it) without reading the payload.
//
// An offset is stored once its event is applied; a database outage is waited out (consumption
// paused, nothing acknowledged), bounded by the stop's grace.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/workspaces/workspace_store.hpp>

namespace tracker::app {

struct LifecycleEvent {
  std::string team_id;
  std::string reason;  // app_uninstalled, tokens_revoked
  std::chrono::system_clock::time_point at;
};

// Event types the app reads; a record whose event_type header names another is skipped.
bool is_lifecycle_type(std::string_view event_type);
// The lifecycle event an envelope holds, if any (tokens_revoked without a bot token: none).
std::optional<LifecycleEvent> read_lifecycle(const messages::Envelope& envelope);

class Lifecycle {
 public:
  Lifecycle(kafka::Consumer& consumer, workspaces::WorkspaceStore& store, async::GracefulStop& stop,
            std::chrono::seconds retention, prometheus::Registry& registry, log::Logger& logger);

  // One slack-events record: true once it is applied or skipped, false when the stop was
  // abandoned first (left unacknowledged).
  boost::asio::awaitable<bool> handle(const kafka::Message& record);

 private:
  boost::asio::awaitable<bool> apply(const LifecycleEvent& event);

  kafka::Consumer& consumer_;
  workspaces::WorkspaceStore& store_;
  async::GracefulStop& stop_;
  std::chrono::seconds retention_;
  log::Logger& logger_;
  prometheus::Family<prometheus::Counter>& events_;
};

}  // namespace tracker::app
