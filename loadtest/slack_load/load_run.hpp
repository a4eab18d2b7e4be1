#pragma once
// The load itself: --connections workers on one io_context, each sending its share of the
// requests one after another, every request signed like Slack signs it. With --rate the requests
// follow a fixed schedule instead (open model), taken by whichever worker is free.
#include <vector>

#include "event_body.hpp"
#include "options.hpp"
#include "report.hpp"
#include "signer.hpp"

namespace tracker::loadtest {

struct LoadResult {
  std::vector<WorkerRecord> workers;
  Clock::time_point start;
  // Keep-alive without a ramp opens every connection first; how long that took (else 0).
  double connect_phase_s = 0;
  bool time_limit_hit = false;
};

LoadResult run_load(const Options& options, const SlackSigner& signer, const EventFactory& events);

}  // namespace tracker::loadtest
