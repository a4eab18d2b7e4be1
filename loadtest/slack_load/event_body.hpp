#pragma once
// Slack Events API `event_callback` bodies for `message` events, shaped like the ones Slack
// sends. Request number `seq` of a run always gets the same event_id, ts and client_msg_id, and
// no two requests of a run or of two runs (different run ids) share them, so a receiver that
// de-duplicates on event_id or (channel, ts) stores every one.
#include <cstdint>
#include <string>

namespace tracker::loadtest {

// Where the events are posted: one team, and its users spread over `channels` channels (user k
// posts in channel k % channels: CLOAD when there is one, CLOAD001... otherwise).
struct EventShape {
  std::string team = "TLOAD";
  int channels = 1;
};

class EventFactory {
 public:
  // `run_id`: 8 upper-case hex digits (make_run_id); `ts_base`: unix seconds at the run's start.
  EventFactory(std::string run_id, int users, std::int64_t ts_base, EventShape shape = {});

  std::string body(std::int64_t seq, std::int64_t now_unix) const;
  std::string event_id(std::int64_t seq) const;
  const std::string& run_id() const { return run_id_; }

 private:
  std::string run_id_;
  std::string msg_id_prefix_;
  int users_;
  std::int64_t ts_base_;
  EventShape shape_;
};

std::string make_run_id();

// Builds one body and checks that it is JSON with the fields a Slack receiver reads. Returns an
// empty string when it is, otherwise what is wrong.
std::string event_body_self_test();

}  // namespace tracker::loadtest
