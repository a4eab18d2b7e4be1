#pragma once
// The two moments of a service component's shutdown: "stop requested" (take no new work, finish
// what is held) and, `grace` later, "abandon" (give up what is still unfinished, acknowledging
// none of it). One object per component; everything on the component's executor.
//
//   async::GracefulStop stop(executor);
//   stop.request(30s);                       // from stop(grace); the first request counts
//   if (!co_await stop.sleep(pause)) ...     // woken early: stop requested (or abandoned)
//   co_await stop.sleep_in_grace(backoff);   // a retry's pause: only abandon cuts it short
//   if (stop.abandoned()) ...                // past the grace: give up, leave it unacknowledged
//   stop.finish();                           // the component ended: the grace timer goes
//
// Sleeps wake at once on the moment they wait for, without polling.
#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <tracker/async/event.hpp>

namespace tracker::async {

namespace asio = boost::asio;

class GracefulStop {
 public:
  using Clock = std::chrono::steady_clock;

  explicit GracefulStop(asio::any_io_executor executor) : grace_(std::move(executor)) {}
  ~GracefulStop() { grace_.cancel(); }
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

  // Stop requested; abandon follows after `grace` (at once when grace <= 0). Only the first
  // request counts: later ones neither lengthen nor shorten the grace (abandon() does that).
  void request(std::chrono::milliseconds grace) {
    if (requested_.is_set()) return;
    requested_.set();
    if (grace <= std::chrono::milliseconds::zero()) {
      abandon();
      return;
    }
    grace_.expires_after(grace);
    // The weak token: a grace that expired just as this object was destroyed does nothing.
    grace_.async_wait(
        [this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
          if (!ec && alive.lock()) abandon();
        });
  }
  // Past the grace now (requesting the stop too, if it was not).
  void abandon() {
    requested_.set();
    abandoned_.set();
    grace_.cancel();
  }
  // The component has ended: the grace timer no longer keeps its io_context busy.
  void finish() { grace_.cancel(); }

  [[nodiscard]] bool requested() const noexcept { return requested_.is_set(); }
  [[nodiscard]] bool abandoned() const noexcept { return abandoned_.is_set(); }

  asio::awaitable<void> wait_requested() { co_await requested_.wait(); }
  asio::awaitable<void> wait_abandoned() { co_await abandoned_.wait(); }

  // Sleeps `duration`, waking early when the stop is requested. True: slept the whole time.
  asio::awaitable<bool> sleep(Clock::duration duration) {
    if (requested()) co_return false;
    co_return !co_await requested_.wait_for(duration);
  }
  // Sleeps `duration`, waking early only when abandoned: for the pause between two attempts
  // of work that should go on during the grace. True: slept the whole time.
  asio::awaitable<bool> sleep_in_grace(Clock::duration duration) {
    if (abandoned()) co_return false;
    co_return !co_await abandoned_.wait_for(duration);
  }

 private:
  Event requested_;
  Event abandoned_;
  asio::steady_timer grace_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace tracker::async
