#pragma once
// The process's open-file limit, checked against what a server is set to hold. Each connection
// is a descriptor; a server allowed more connections than the process may open cannot keep its
// promise of a 503 beyond the cap, and its clients would hang in the backlog instead.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tracker::http {

// Descriptors a service needs beside its client connections: Kafka and PostgreSQL sockets,
// the ops endpoint's connections, the event loop's own, logs, and room to spare.
inline constexpr std::uint64_t kDescriptorHeadroom = 256;

struct DescriptorLimit {
  std::uint64_t soft = 0;  // what the process may open now
  std::uint64_t hard = 0;  // what it may raise its soft limit to
};

// Why `needed` descriptors do not fit in `limit` once the soft limit is raised to the hard one;
// empty when they do. `setting` names what asked for them, for the message.
std::string descriptor_shortfall(std::uint64_t needed, DescriptorLimit limit,
                                 const std::string& setting);

// Raises the soft RLIMIT_NOFILE to the hard limit (no privilege needed) and returns the limit
// now in force. Throws std::runtime_error naming both numbers when `needed` still does not fit.
DescriptorLimit raise_descriptor_limit(std::uint64_t needed, const std::string& setting);

}  // namespace tracker::http
