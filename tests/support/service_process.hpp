#pragma once
// A service binary run by an integration test as a child process: its environment is the
// test's own minus the variables the test sets, so an inherited DATABASE_URL or TRACKER_*
// cannot shadow them. SIGKILLed in the destructor if still running.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <tracker/testkit/blocking_client.hpp>

extern char** environ;

namespace tracker::testing {

class ServiceProcess {
 public:
  // `env`: NAME=value entries, a later one replacing an earlier one of the same NAME (so a test
  // can override a fixture's setting); inherited variables starting with one of
  // `replaced_prefixes` (and any NAME given in `env`) are left out.
  ServiceProcess(std::string binary, std::vector<std::string> env,
                 std::vector<std::string> replaced_prefixes = {"DATABASE_URL=", "TRACKER_"})
      : binary_(std::move(binary)) {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry = *e;
      bool replaced = false;
      for (const auto& prefix : replaced_prefixes) replaced = replaced || entry.starts_with(prefix);
      for (const auto& own : env) {
        const auto name = own.substr(0, own.find('=') + 1);
        replaced = replaced || entry.starts_with(name);
      }
      if (!replaced) env_.emplace_back(entry);
    }
    const std::size_t inherited = env_.size();
    for (auto& e : env) {
      const auto name = e.substr(0, e.find('=') + 1);
      auto same = std::find_if(env_.begin() + static_cast<std::ptrdiff_t>(inherited), env_.end(),
                               [&](const std::string& own) { return own.starts_with(name); });
      if (same != env_.end()) {
        *same = std::move(e);
      } else {
        env_.push_back(std::move(e));
      }
    }
  }
  ~ServiceProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  // Sends the process's stdout and stderr (its log lines) to `path` (appended), for a test
  // that reads what it logged; call before start().
  void capture_output(std::string path) { output_path_ = std::move(path); }
  [[nodiscard]] std::string output() const {
    std::ifstream in(output_path_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  void start() {
    std::vector<char*> envp;
    for (auto& s : env_) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> argv = {binary_.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!output_path_.empty()) {
      posix_spawn_file_actions_addopen(&actions, 1, output_path_.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0600);
      posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    const int spawned =
        posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("cannot start " + binary_);
  }
  void kill_hard() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM, then the exit status (or -1 if it did not exit within `limit`).
  int terminate(std::chrono::seconds limit = std::chrono::seconds{30}) {
    kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < until) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return -1;
  }
  // Waits up to `limit` for the process to end by itself: its exit status, or -1 while it runs.
  int wait_exit(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (pid_ > 0) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= until) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return -1;
  }
  [[nodiscard]] bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  std::string binary_;
  std::vector<std::string> env_;
  std::string output_path_;
  pid_t pid_ = -1;
};

// GET http://127.0.0.1:port/target; 0 when nothing answers.
inline unsigned http_get(std::uint16_t port, const char* target, std::string* body = nullptr) {
  auto result = tracker::testkit::blocking_get("127.0.0.1", port, target);
  if (body != nullptr) *body = std::move(result.body);
  return result.status;
}

// Polls /readyz until it answers 200 or `limit` passes; returns the last status and body.
inline std::pair<unsigned, std::string> wait_ready(
    std::uint16_t port, std::chrono::seconds limit = std::chrono::seconds{20}) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::string body;
  unsigned status = 0;
  while ((status = http_get(port, "/readyz", &body)) != 200U &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  return {status, body};
}

}  // namespace tracker::testing
