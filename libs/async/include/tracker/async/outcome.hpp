#pragma once
// How a step of a consume loop ended (a write, a dead letter, a delivery), for the caller to
// decide whether the record may be acknowledged:
//   done       the step's effect is durable: the record may be acknowledged;
//   refused    it cannot succeed (the data is at fault, the peer said no for good): retrying
//              cannot help; the caller dead-letters the record or drops it, then acknowledges;
//   exhausted  it kept failing until the retry policy's count or time bound: the cause may still
//              pass, but this service stops waiting for it; nothing is acknowledged;
//   abandoned  the stop's grace is over: nothing is acknowledged, the next owner of the
//              partition sees the record again.
// Where a step returns a value as well, it is a boost::system::result<T, RetryFailure<E>>
// (tracker/async/retry.hpp) whose failure carries one of the last three.
#include <string_view>

namespace tracker::async {

enum class Outcome { done, refused, exhausted, abandoned };

constexpr std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::done: return "done";
    case Outcome::refused: return "refused";
    case Outcome::exhausted: return "exhausted";
    case Outcome::abandoned: return "abandoned";
  }
  return "unknown";
}

}  // namespace tracker::async
