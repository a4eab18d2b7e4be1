#include <tracker/notifier/pacer.hpp>

#include <algorithm>
#include <cmath>

namespace tracker::notifier {

namespace {

std::string channel_key(const std::string& team, const std::string& channel) {
  std::string key;
  key.reserve(team.size() + 1 + channel.size());
  key.append(team).push_back('/');
  key.append(channel);
  return key;
}

}  // namespace

Pacer::Pacer(PacingOptions options, Clock::time_point now) : options_(options), last_sweep_(now) {}

PaceDecision Pacer::check(const std::string& team, const std::string& channel,
                          Clock::time_point now) const {
  const auto ws = workspaces_.find(team);
  if (ws != workspaces_.end() && ws->second.closed_until > now) {
    return {ws->second.closed_until - now, PaceLimit::retry_after};
  }
  PaceDecision decision;
  if (const auto it = channels_.find(channel_key(team, channel)); it != channels_.end()) {
    const auto wait = it->second.wait(now);
    if (wait > decision.wait) decision = {wait, PaceLimit::channel};
  }
  if (ws != workspaces_.end()) {
    const auto wait = ws->second.bucket.wait(now);
    if (wait > decision.wait) decision = {wait, PaceLimit::workspace};
  }
  return decision;
}

void Pacer::take(const std::string& team, const std::string& channel, Clock::time_point now) {
  forget_full(now);
  const std::string key = channel_key(team, channel);
  auto it = channels_.find(key);
  if (it == channels_.end()) {
    it = channels_
             .emplace(key, TokenBucket(options_.channel_per_second * (1.0 - options_.headroom),
                                       options_.channel_burst, now))
             .first;
  }
  it->second.take(now);
  workspace(team, now).bucket.take(now);
}

void Pacer::close_until(const std::string& team, Clock::time_point until) {
  Workspace& ws = workspace(team, until);
  ws.closed_until = std::max(ws.closed_until, until);
}

Clock::time_point Pacer::closed_until(const std::string& team) const {
  const auto ws = workspaces_.find(team);
  return ws == workspaces_.end() ? Clock::time_point{} : ws->second.closed_until;
}

std::size_t Pacer::closed_workspaces(Clock::time_point now) const {
  return static_cast<std::size_t>(
      std::count_if(workspaces_.begin(), workspaces_.end(),
                    [&](const auto& entry) { return entry.second.closed_until > now; }));
}

Pacer::Workspace& Pacer::workspace(const std::string& team, Clock::time_point now) {
  auto it = workspaces_.find(team);
  if (it == workspaces_.end()) {
    it = workspaces_
             .emplace(team, Workspace{.bucket = TokenBucket(options_.workspace_per_minute / 60.0 *
                                                                (1.0 - options_.headroom),
                                                            options_.workspace_burst, now)})
             .first;
  }
  return it->second;
}

void Pacer::forget_full(Clock::time_point now) {
  if (now - last_sweep_ < std::chrono::seconds{10}) return;
  last_sweep_ = now;
  std::erase_if(channels_, [&](const auto& entry) { return entry.second.full(now); });
  std::erase_if(workspaces_, [&](const auto& entry) {
    return entry.second.bucket.full(now) && entry.second.closed_until <= now;
  });
}

}  // namespace tracker::notifier
