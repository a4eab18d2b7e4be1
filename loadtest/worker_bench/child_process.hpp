#pragma once
// The service processes a benchmark starts: spawned with the benchmark's environment (minus its
// TRACKER_* settings, which would leak into the child) plus their own, measured from /proc.
#include <sys/types.h>

#include <string>
#include <vector>

namespace tracker::loadtest {

// Starts `binary` with `extra_env` (NAME=VALUE, a later one replacing an earlier one of the same
// name) on top; throws if it cannot be started.
pid_t spawn(const std::string& binary, const std::vector<std::string>& extra_env);
// SIGTERM, then waits for it to exit.
void stop(pid_t pid);
// CPU seconds (user + system) the process has used so far.
double cpu_seconds(pid_t pid);
// Its peak resident set (VmHWM) and its resident set now (VmRSS), in MiB.
double peak_rss_mib(pid_t pid);
double rss_mib(pid_t pid);

}  // namespace tracker::loadtest
