#include "pacer.hpp"

#include <algorithm>
#include <cmath>

namespace tracker::notifier {

Pacer::Pacer(PacingOptions options, Clock::time_point now)
    : options_(options),
      workspace_(options.workspace_per_minute / 60.0 * (1.0 - options.headroom),
                 options.workspace_burst, now),
      last_sweep_(now) {}

PaceDecision Pacer::check(const std::string& channel, Clock::time_point now) {
  if (closed_until_ > now) return {closed_until_ - now, PaceLimit::retry_after};
  PaceDecision decision;
  if (const auto it = channels_.find(channel); it != channels_.end()) {
    const auto wait = it->second.wait(now);
    if (wait > decision.wait) decision = {wait, PaceLimit::channel};
  }
  const auto wait = workspace_.wait(now);
  if (wait > decision.wait) decision = {wait, PaceLimit::workspace};
  return decision;
}

void Pacer::take(const std::string& channel, Clock::time_point now) {
  forget_full(now);
  auto it = channels_.find(channel);
  if (it == channels_.end()) {
    it = channels_
             .emplace(channel, TokenBucket(options_.channel_per_second * (1.0 - options_.headroom),
                                           options_.channel_burst, now))
             .first;
  }
  it->second.take(now);
  workspace_.take(now);
}

void Pacer::close_until(Clock::time_point until) {
  closed_until_ = std::max(closed_until_, until);
}

void Pacer::forget_full(Clock::time_point now) {
  if (now - last_sweep_ < std::chrono::seconds{10}) return;
  last_sweep_ = now;
  std::erase_if(channels_, [&](const auto& entry) { return entry.second.full(now); });
}

}  // namespace tracker::notifier
