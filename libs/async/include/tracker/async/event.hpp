#pragma once
// Coroutine events for code on one executor (a single-threaded io_context or a strand): the
// state is not synchronised, so set/reset/wait must all run there.
//
//   async::Event ready;
//   ... co_await ready.wait();            // returns at once while set
//   ready.set();                          // wakes every waiter; stays set until reset()
//   room.notify_all();                    // wakes the current waiters only (a pulse)
//   bool woken = co_await ready.wait_until(deadline);  // false: the deadline came first
//
//   async::WaitGroup tasks;               // "all done": a counter and a wait for it to drop
//   tasks.add(); co_spawn(..., [&](auto) { tasks.done(); });
//   co_await tasks.wait();                // until none is left (wait(n): until at most n)
//
// Each waiter waits on a timer of its own (its deadline, or never), which set() and
// notify_all() cancel; so a wait honours cancellation like any Asio wait (a `||` race, a
// deadline), and no timer stands parked at time_point::max() in the owner. A waiter woken by
// set() returns even when reset() came before it resumed.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::async {

namespace asio = boost::asio;

class Event {
 public:
  using Clock = std::chrono::steady_clock;

  Event() : state_(std::make_shared<State>()) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the event and wakes every waiter; later waits return at once until reset().
  void set() {
    if (state_->set) return;
    state_->set = true;
    state_->wake();
  }
  void reset() noexcept { state_->set = false; }
  [[nodiscard]] bool is_set() const noexcept { return state_->set; }
  // Wakes the coroutines waiting now, without setting the event.
  void notify_all() { state_->wake(); }
  [[nodiscard]] std::size_t waiters() const noexcept { return state_->waiters.size(); }

  // Until set() or notify_all() (or the wait is cancelled).
  asio::awaitable<void> wait() { co_await wait_until(Clock::time_point::max()); }
  // True when woken by set() or notify_all(), false when `deadline` came first (or the wait
  // was cancelled).
  asio::awaitable<bool> wait_until(Clock::time_point deadline) {
    if (state_->set) co_return true;
    // Held by the frame, so that an Event destroyed before a suspended waiter's frame (an
    // io_context torn down after its owner) leaves nothing dangling.
    const std::shared_ptr<State> state = state_;
    const std::uint64_t generation = state->generation;
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    const Registration registration(*state, timer);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return state->set || state->generation != generation;
  }
  asio::awaitable<bool> wait_for(Clock::duration timeout) {
    const Clock::time_point now = Clock::now();
    // Saturated: "wait a very long time" must not overflow into the past.
    const Clock::time_point deadline =
        timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
    co_return co_await wait_until(deadline);
  }

 private:
  struct State {
    bool set = false;
    std::uint64_t generation = 0;  // counts wake-ups, so a waiter knows it was woken
    std::vector<asio::steady_timer*> waiters;
    void wake() {
      ++generation;
      for (asio::steady_timer* timer : waiters) timer->cancel();
    }
  };
  struct Registration {
    Registration(State& s, asio::steady_timer& t) : state(s), timer(t) {
      state.waiters.push_back(&timer);
    }
    ~Registration() { std::erase(state.waiters, &timer); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    State& state;
    asio::steady_timer& timer;
  };

  std::shared_ptr<State> state_;
};

// Counts tasks in progress; wait(n) returns once at most n are left. For "until every lane
// ended" and for "until fewer than the window are in flight".
class WaitGroup {
 public:
  void add(std::size_t n = 1) noexcept { count_ += n; }
  // One task ended. More done() than add() is a bug; the count stays at zero.
  void done() {
    if (count_ > 0) --count_;
    changed_.notify_all();
  }
  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  asio::awaitable<void> wait(std::size_t at_most = 0) {
    while (count_ > at_most) co_await changed_.wait();
  }

 private:
  std::size_t count_ = 0;
  Event changed_;
};

}  // namespace tracker::async
