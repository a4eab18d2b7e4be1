#include <tracker/summarizer/settings.hpp>

#include <tracker/messages/topics.hpp>

namespace tracker::summarizer {

using namespace std::chrono_literals;

Settings load_settings(config::Env& env) {
  Settings s;
  s.common = service::load_common(env, {.ops_port = 9467, .db_pool_size = 8});
  s.api_key = env.optional_secret("OPENAI_API_KEY");
  s.openai_base_url = service::load_base_url(env, "OPENAI_BASE_URL", "https://api.openai.com/v1");
  s.openai_ca_file = env.optional("TRACKER_OPENAI_CA_FILE", "");
  s.topic =
      env.optional("TRACKER_SUMMARIZER_TOPIC", std::string(messages::topics::kSummaryRequests));
  s.group_id = env.optional("TRACKER_SUMMARIZER_GROUP", "summarizer");

  auto& o = s.options;
  o.provider = env.one_of("TRACKER_SUMMARIZER_PROVIDER", s.api_key.empty() ? "offline" : "openai",
                          {"openai", "offline"});
  if (o.provider == "openai" && s.api_key.empty()) {
    env.fail("TRACKER_SUMMARIZER_PROVIDER", "is openai but OPENAI_API_KEY is not set");
  }
  o.outbox_topic =
      env.optional("TRACKER_SUMMARIZER_OUTBOX_TOPIC", std::string(messages::topics::kSlackOutbox));
  o.dlq_topic = env.optional("TRACKER_SUMMARIZER_DLQ_TOPIC",
                             std::string(messages::topics::kSummaryRequestsDeadLetters));
  o.max_in_flight =
      static_cast<std::size_t>(env.integer("TRACKER_SUMMARIZER_MAX_IN_FLIGHT", 64, 1, 4'096));
  o.max_queued =
      static_cast<std::size_t>(env.integer("TRACKER_SUMMARIZER_MAX_QUEUED", 1'000, 1, 1'000'000));
  o.job_deadline = env.duration("TRACKER_SUMMARIZER_JOB_DEADLINE", 10min, 1s, 24h);
  o.model = env.optional("TRACKER_OPENAI_MODEL", "gpt-4o-mini");
  if (o.model.empty()) env.fail("TRACKER_OPENAI_MODEL", "is empty");
  o.max_completion_tokens =
      static_cast<int>(env.integer("TRACKER_OPENAI_MAX_COMPLETION_TOKENS", 400, 16, 32'000));
  o.prompt_token_budget = static_cast<std::uint64_t>(
      env.integer("TRACKER_SUMMARIZER_PROMPT_TOKEN_BUDGET", 3'000, 200, 1'000'000));
  o.destination = env.one_of("TRACKER_SUMMARY_DESTINATION", "channel", {"channel", "dm"}) == "dm"
                      ? Destination::dm
                      : Destination::channel;
  o.db_retry_max = s.common.database->retry_max;
  o.batch = env.flag("TRACKER_SUMMARIZER_BATCH", false);
  if (o.batch && o.provider != "openai") {
    env.fail("TRACKER_SUMMARIZER_BATCH", "needs the openai provider (OPENAI_API_KEY)");
  }
  o.batch_max_jobs =
      static_cast<std::size_t>(env.integer("TRACKER_SUMMARIZER_BATCH_MAX_JOBS", 10'000, 1, 50'000));
  o.batch_linger = env.duration("TRACKER_SUMMARIZER_BATCH_LINGER", 60s, 10ms, 1h);
  o.batch_poll_initial = env.duration("TRACKER_SUMMARIZER_BATCH_POLL_INTERVAL", 30s, 10ms, 1h);
  o.batch_poll_max = env.duration("TRACKER_SUMMARIZER_BATCH_POLL_MAX", 10min, 10ms, 6h);
  if (o.batch_poll_max < o.batch_poll_initial) {
    env.fail("TRACKER_SUMMARIZER_BATCH_POLL_MAX",
             "must not be below TRACKER_SUMMARIZER_BATCH_POLL_INTERVAL");
  }

  auto& c = s.chat;
  c.limiter.requests_per_minute =
      static_cast<double>(env.integer("TRACKER_OPENAI_REQUESTS_PER_MINUTE", 500, 0, 100'000'000));
  c.limiter.tokens_per_minute = static_cast<double>(
      env.integer("TRACKER_OPENAI_TOKENS_PER_MINUTE", 200'000, 0, 10'000'000'000LL));
  c.limiter.headroom =
      static_cast<double>(env.integer("TRACKER_OPENAI_LIMIT_HEADROOM_PERCENT", 2, 0, 50)) / 100.0;
  c.limiter.burst_seconds =
      std::chrono::duration<double>(env.duration("TRACKER_OPENAI_LIMIT_BURST", 60s, 1s, 60s))
          .count();
  c.max_attempts = static_cast<int>(env.integer("TRACKER_OPENAI_MAX_ATTEMPTS", 4, 1, 20));
  c.backoff.initial = env.duration("TRACKER_OPENAI_RETRY_INITIAL", 500ms, 1ms, 5min);
  c.backoff.max = env.duration("TRACKER_OPENAI_RETRY_MAX", 8s, 1ms, 1h);
  if (c.backoff.max < c.backoff.initial) {
    env.fail("TRACKER_OPENAI_RETRY_MAX", "must not be below TRACKER_OPENAI_RETRY_INITIAL");
  }
  c.retry_after_max = env.duration("TRACKER_OPENAI_RETRY_AFTER_MAX", 60s, 0ms, 1h);
  c.request_timeout = env.duration("TRACKER_OPENAI_REQUEST_TIMEOUT", 60s, 100ms, 30min);
  c.budget.ratio =
      static_cast<double>(env.integer("TRACKER_OPENAI_RETRY_BUDGET_PERCENT", 20, 0, 100)) / 100.0;
  c.budget.window = std::chrono::duration_cast<std::chrono::seconds>(
      env.duration("TRACKER_OPENAI_RETRY_BUDGET_WINDOW", 60s, 1s, 1h));
  c.budget.min_retries =
      static_cast<std::uint64_t>(env.integer("TRACKER_OPENAI_RETRY_BUDGET_MIN", 10, 0, 1'000'000));
  c.breaker.failure_threshold =
      static_cast<int>(env.integer("TRACKER_OPENAI_BREAKER_FAILURES", 5, 1, 1'000));
  c.breaker.cool_down = env.duration("TRACKER_OPENAI_BREAKER_COOL_DOWN", 30s, 10ms, 1h);

  s.connections =
      static_cast<std::size_t>(env.integer("TRACKER_OPENAI_MAX_CONNECTIONS", 64, 1, 4'096));
  env.finish();
  return s;
}

}  // namespace tracker::summarizer
