#pragma once
// Pausing a consumer for several reasons at once: each reason is held and released, counted
// (two lanes in a database outage hold "database" twice), and the consumer is paused when the
// first hold comes and resumed when the last one goes, on those edges only.
//
//   async::PauseGate gate([&] { consumer.pause(); }, [&] { consumer.resume(); });
//   gate.hold("database");      // paused
//   gate.hold("dead_letter");   // still paused, two reasons
//   gate.release("database");
//   gate.release("dead_letter");  // resumed
//   gate.describe();            // "database,dead_letter" while both hold: for logs, readiness
//   gate.watch("database", [&](bool held) { outage_gauge.Set(held ? 1 : 0); });
//
// Not thread-safe: one executor owns it (the consumer's).
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker::async {

class PauseGate {
 public:
  PauseGate(std::function<void()> pause, std::function<void()> resume)
      : pause_(std::move(pause)), resume_(std::move(resume)) {}
  PauseGate(const PauseGate&) = delete;
  PauseGate& operator=(const PauseGate&) = delete;

  void hold(std::string_view reason) {
    const bool was_held = held();
    const bool first = ++holds_[std::string(reason)] == 1;
    if (!was_held && pause_) pause_();
    if (first) changed(reason, true);
  }
  // One hold of `reason` less. Returns false (and changes nothing) when `reason` was not held.
  bool release(std::string_view reason) {
    const auto it = holds_.find(reason);
    if (it == holds_.end()) return false;
    const bool last = --it->second == 0;
    if (last) holds_.erase(it);
    if (!held() && resume_) resume_();
    if (last) changed(reason, false);
    return true;
  }

  // Calls `on_change(true)` when `reason` is first held and `on_change(false)` when its last
  // hold goes (a gauge that shows an outage, a log line when it ends). One watcher a reason.
  void watch(std::string_view reason, std::function<void(bool held)> on_change) {
    watchers_[std::string(reason)] = std::move(on_change);
  }

  [[nodiscard]] bool held() const noexcept { return !holds_.empty(); }
  [[nodiscard]] bool holds(std::string_view reason) const { return count(reason) > 0; }
  [[nodiscard]] std::size_t count(std::string_view reason) const {
    const auto it = holds_.find(reason);
    return it == holds_.end() ? 0 : it->second;
  }
  // The reasons holding the gate, in name order.
  [[nodiscard]] std::vector<std::string> reasons() const {
    std::vector<std::string> out;
    out.reserve(holds_.size());
    for (const auto& entry : holds_) out.push_back(entry.first);
    return out;
  }
  // The reasons joined with commas; empty when open.
  [[nodiscard]] std::string describe() const {
    std::string out;
    for (const auto& entry : holds_) {
      if (!out.empty()) out += ',';
      out += entry.first;
    }
    return out;
  }

 private:
  void changed(std::string_view reason, bool now_held) {
    const auto it = watchers_.find(reason);
    if (it != watchers_.end() && it->second) it->second(now_held);
  }

  std::function<void()> pause_;
  std::function<void()> resume_;
  std::map<std::string, std::size_t, std::less<>> holds_;  // reasons held, each at least once
  std::map<std::string, std::function<void(bool)>, std::less<>> watchers_;
};

}  // namespace tracker::async
