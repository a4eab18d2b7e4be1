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
    ++holds_[std::string(reason)];
    if (!was_held && pause_) pause_();
  }
  // One hold of `reason` less. Returns false (and changes nothing) when `reason` was not held.
  bool release(std::string_view reason) {
    const auto it = holds_.find(reason);
    if (it == holds_.end()) return false;
    if (--it->second == 0) holds_.erase(it);
    if (!held() && resume_) resume_();
    return true;
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
  std::function<void()> pause_;
  std::function<void()> resume_;
  std::map<std::string, std::size_t, std::less<>> holds_;  // reasons held, each at least once
};

}  // namespace tracker::async
