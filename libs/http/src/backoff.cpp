#include <tracker/http/backoff.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace tracker::http {

std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int retry,
                                        std::mt19937_64& rng) {
  const double exponent = std::max(0, retry - 1);
  const double capped =
      std::min(static_cast<double>(policy.max.count()),
               static_cast<double>(policy.initial.count()) * std::pow(policy.multiplier, exponent));
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> draw(capped * (1.0 - jitter), capped);
  return std::chrono::milliseconds{
      static_cast<long long>(std::llround(jitter > 0 ? draw(rng) : capped))};
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // A day at most: a larger value is either a mistake or a ban, and either way not a wait;
    // so is one of more digits than a long long holds.
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return std::chrono::milliseconds{86'400'000};
    if (ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
    return std::chrono::milliseconds{std::min(seconds, 86'400LL) * 1000};
  }
  // IMF-fixdate, the form senders must use: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::time_t at = ::timegm(&tm);
  if (at == static_cast<std::time_t>(-1)) return std::nullopt;
  // Compared in seconds first: system_clock counts nanoseconds in 64 bits, and a date before
  // 1678 or after 2261 (strptime takes years up to 9999) would overflow it. A day at most, as
  // for delay-seconds.
  const auto now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (at < now_seconds) return std::chrono::milliseconds{0};
  if (at - now_seconds >= 86'400) return std::chrono::milliseconds{86'400'000};
  const auto wait = std::chrono::system_clock::from_time_t(at) - now;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(wait, std::chrono::system_clock::duration::zero()));
}

}  // namespace tracker::http
