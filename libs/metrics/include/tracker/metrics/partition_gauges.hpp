#pragma once
// One gauge series per (topic, partition) of a family, for the partitions a consumer holds now.
// Each update sets the partitions it is given and removes the series of every partition it was
// not given, so a revoked partition stops being reported here (its new owner reports it) and two
// group members never both report one partition.
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <prometheus/family.h>
#include <prometheus/gauge.h>

namespace tracker::metrics {

class PartitionGauges {
 public:
  explicit PartitionGauges(prometheus::Family<prometheus::Gauge>& family) : family_(family) {}
  PartitionGauges(const PartitionGauges&) = delete;
  PartitionGauges& operator=(const PartitionGauges&) = delete;

  // `lags`: anything iterable whose elements have `topic`, `partition` and `messages`, such as
  // kafka::Consumer::lag().
  template <typename Lags>
  void update(const Lags& lags) {
    Series current;
    for (const auto& lag : lags) {
      prometheus::Gauge& gauge = family_.Add(
          {{"topic", std::string(lag.topic)}, {"partition", std::to_string(lag.partition)}});
      gauge.Set(static_cast<double>(lag.messages));
      current.emplace(std::make_pair(std::string(lag.topic), std::int32_t{lag.partition}), &gauge);
    }
    replace(std::move(current));
  }

  [[nodiscard]] std::size_t size() const noexcept { return series_.size(); }

 private:
  using Series = std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*>;
  void replace(Series current) {
    for (const auto& [key, gauge] : series_) {
      if (!current.contains(key)) family_.Remove(gauge);
    }
    series_ = std::move(current);
  }

  prometheus::Family<prometheus::Gauge>& family_;
  Series series_;
};

}  // namespace tracker::metrics
