#include <tracker/http/descriptors.hpp>

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace tracker::http {

std::string descriptor_shortfall(std::uint64_t needed, DescriptorLimit limit,
                                 const std::string& setting) {
  if (needed <= limit.hard) return {};
  return setting + " needs " + std::to_string(needed) +
         " file descriptors, but the hard limit is " + std::to_string(limit.hard) + " (soft " +
         std::to_string(limit.soft) +
         "); lower the setting or raise the limit (ulimit -Hn, systemd LimitNOFILE, "
         "the container runtime's nofile)";
}

DescriptorLimit raise_descriptor_limit(std::uint64_t needed, const std::string& setting) {
  rlimit current{};
  if (::getrlimit(RLIMIT_NOFILE, &current) != 0) {
    throw std::runtime_error(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  }
  if (current.rlim_cur < current.rlim_max) {
    rlimit raised = current;
    raised.rlim_cur = current.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) current = raised;
  }
  const DescriptorLimit limit{.soft = static_cast<std::uint64_t>(current.rlim_cur),
                              .hard = static_cast<std::uint64_t>(current.rlim_max)};
  // The soft limit is the one that counts; it equals the hard one unless raising it failed, and
  // then it is the limit the message names.
  if (needed > limit.soft) {
    throw std::runtime_error(descriptor_shortfall(needed, {limit.soft, limit.soft}, setting));
  }
  return limit;
}

}  // namespace tracker::http
