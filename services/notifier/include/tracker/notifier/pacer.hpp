#pragma once
// How fast the notifier may call chat.postMessage. Slack allows about one message per second
// per channel, with short bursts, and a workspace-wide rate for the method; a 429's Retry-After
// closes the method for the whole workspace until it has passed.
// (https://api.slack.com/methods/chat.postMessage#rate_limiting,
//  https://api.slack.com/apis/rate-limits)
//
// Token buckets, one per channel and one per workspace (team_id), on an explicit clock so that
// tests drive time. Each workspace has its own rate and its own Retry-After: a notifier owns
// whole workspaces (slack-outbox is keyed by team_id), so it paces each of them at Slack's full
// limit and one workspace's 429 holds up no other. A bucket is forgotten once it is full again
// (and its workspace open), so memory follows what posted in the last few seconds, not every
// channel ever seen.
//
// Threads: one executor uses it (the notifier's).
#include <chrono>
#include <string>
#include <unordered_map>

#include <tracker/async/token_bucket.hpp>

namespace tracker::notifier {

using Clock = std::chrono::steady_clock;

using async::TokenBucket;

struct PacingOptions {
  double channel_per_second = 1.0;
  double channel_burst = 3;
  double workspace_per_minute = 100;
  double workspace_burst = 10;
  // The fraction of each rate the notifier leaves unused. Pacing at exactly Slack's rate meets
  // a 429 whenever two posts reach Slack closer together than they left (a slower database
  // write before one of them), and a 429 closes the whole workspace for a second at least;
  // a little headroom lets Slack's bucket refill and absorb that jitter.
  double headroom = 0.02;
};

enum class PaceLimit { none, channel, workspace, retry_after };

struct PaceDecision {
  Clock::duration wait{};  // zero: send now (after take())
  PaceLimit limit = PaceLimit::none;
};

class Pacer {
 public:
  Pacer(PacingOptions options, Clock::time_point now = Clock::now());

  // How long a post to `channel` of workspace `team` must wait, and which limit holds it.
  [[nodiscard]] PaceDecision check(const std::string& team, const std::string& channel,
                                   Clock::time_point now) const;
  // Spends the channel's and its workspace's token for a post about to be sent.
  void take(const std::string& team, const std::string& channel, Clock::time_point now);
  // Slack answered 429 for a post of `team`: nothing is sent to that workspace before `until`.
  void close_until(const std::string& team, Clock::time_point until);
  [[nodiscard]] Clock::time_point closed_until(const std::string& team) const;
  // Workspaces a Retry-After keeps closed at `now`.
  [[nodiscard]] std::size_t closed_workspaces(Clock::time_point now) const;
  [[nodiscard]] std::size_t tracked_channels() const noexcept { return channels_.size(); }
  [[nodiscard]] std::size_t tracked_workspaces() const noexcept { return workspaces_.size(); }

 private:
  struct Workspace {
    TokenBucket bucket;
    Clock::time_point closed_until{};
  };

  Workspace& workspace(const std::string& team, Clock::time_point now);
  void forget_full(Clock::time_point now);

  PacingOptions options_;
  std::unordered_map<std::string, Workspace> workspaces_;  // by team_id
  // By team_id and channel: a DM's user id is only unique within its workspace.
  std::unordered_map<std::string, TokenBucket> channels_;
  Clock::time_point last_sweep_{};
};

}  // namespace tracker::notifier
