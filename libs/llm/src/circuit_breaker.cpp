#include "tracker/llm/circuit_breaker.hpp"

namespace tracker::llm {

std::string_view to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

bool CircuitBreaker::allow(Clock::time_point now) {
  switch (state_) {
    case BreakerState::closed: return true;
    case BreakerState::open:
      if (now < probe_at_) return false;
      state_ = BreakerState::half_open;
      probe_in_flight_ = true;
      return true;
    case BreakerState::half_open:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::success() {
  state_ = BreakerState::closed;
  consecutive_failures_ = 0;
  probe_in_flight_ = false;
}

void CircuitBreaker::failure(Clock::time_point now) {
  if (state_ == BreakerState::half_open) {
    open(now);
    return;
  }
  if (state_ == BreakerState::open) return;  // a request sent before it opened
  if (++consecutive_failures_ >= options_.failure_threshold) open(now);
}

void CircuitBreaker::neutral() {
  if (state_ == BreakerState::half_open) probe_in_flight_ = false;
}

BreakerState CircuitBreaker::state(Clock::time_point now) const {
  if (state_ == BreakerState::open && now >= probe_at_) return BreakerState::half_open;
  return state_;
}

void CircuitBreaker::open(Clock::time_point now) {
  state_ = BreakerState::open;
  probe_in_flight_ = false;
  consecutive_failures_ = 0;
  probe_at_ = now + options_.cool_down;
  ++opened_;
}

}  // namespace tracker::llm
