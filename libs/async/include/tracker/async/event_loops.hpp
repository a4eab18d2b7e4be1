#pragma once
// Event loops with one thread each: an io_context per thread, made for one thread (concurrency
// hint 1), so that what runs on a loop needs no strand. A server accepts and serves connections
// on each of them (http::Server), and each connection's handlers, timers and completions then
// stay on the thread that accepted it.
//
//   async::EventLoops loops(2);
//   http::Server server(loops.executors(), ...);
//   ...
//   loops.stop();  // the threads end; the io_contexts stay until the object is destroyed
//
// Posting to a stopped loop is allowed: the handler is destroyed with the loop, never run. So an
// object that may still post (a Kafka producer's delivery reports) must be destroyed first, or
// the loops made to outlive it.
#include <pthread.h>

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace tracker::async {

class EventLoops {
 public:
  // Starts `count` threads (at least one), each running its own io_context until stop(), and
  // named "io-loop-<n>" (as top -H and perf show them).
  explicit EventLoops(std::size_t count) {
    if (count == 0) count = 1;
    loops_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      auto loop = std::make_unique<Loop>();
      Loop& ref = *loop;
      loop->thread = std::jthread([&ref] { ref.io.run(); });
      const std::string name = "io-loop-" + std::to_string(i);
      ::pthread_setname_np(loop->thread.native_handle(), name.c_str());
      loops_.push_back(std::move(loop));
    }
  }
  ~EventLoops() { stop(); }
  EventLoops(const EventLoops&) = delete;
  EventLoops& operator=(const EventLoops&) = delete;

  [[nodiscard]] std::vector<boost::asio::any_io_executor> executors() const {
    std::vector<boost::asio::any_io_executor> out;
    out.reserve(loops_.size());
    for (const auto& loop : loops_) out.emplace_back(loop->io.get_executor());
    return out;
  }

  // Ends every loop's thread: what is queued and not yet run stays queued, and is destroyed with
  // the loops. Idempotent; not from one of the loops' own threads.
  void stop() {
    for (auto& loop : loops_) loop->end();
    for (auto& loop : loops_) {
      if (loop->thread.joinable()) loop->thread.join();
    }
  }

 private:
  struct Loop {
    Loop() = default;
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    // Also when the constructor above fails half-way: the thread is ended before it is joined.
    ~Loop() {
      end();
      if (thread.joinable()) thread.join();
    }
    // Lets run() return (it does not wait for the work still queued).
    void end() {
      work.reset();
      io.stop();
    }
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        io.get_executor()};
    std::jthread thread;
  };
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace tracker::async
