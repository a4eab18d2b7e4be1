#include <tracker/ingest/service.hpp>

#include <stdexcept>
#include <string>

#include <malloc.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/config/env.hpp>
#include <tracker/http/descriptors.hpp>
#include <tracker/metrics/declare.hpp>
#include <tracker/metrics/ops_endpoint.hpp>

namespace tracker::ingest {

namespace asio = boost::asio;

void reserve_descriptors(const Settings& settings, log::Logger& logger) {
  // Every connection is a descriptor: the cap's promise (a 503 beyond it) holds only if the
  // process may open that many and more.
  const metrics::OpsEndpointOptions ops_defaults;
  try {
    const auto limit = http::raise_descriptor_limit(
        settings.max_connections + ops_defaults.max_connections + http::kDescriptorHeadroom,
        "TRACKER_MAX_CONNECTIONS=" + std::to_string(settings.max_connections) + " (with " +
            std::to_string(ops_defaults.max_connections + http::kDescriptorHeadroom) +
            " for the ops port, Kafka and the rest)");
    logger.debug("descriptor_limit", {{"soft", limit.soft}, {"hard", limit.hard}});
  } catch (const std::runtime_error& error) {
    throw config::ConfigError({error.what()});
  }
}

Service::Service(asio::any_io_executor executor, std::vector<asio::any_io_executor> loops,
                 kafka::Producer& producer, const Settings& settings,
                 prometheus::Registry& registry, log::Logger& logger)
    : strand_(asio::make_strand(executor)),
      logger_(logger),
      publisher_(producer, settings.publish_deadline),
      handler_(slack::SignatureVerifier(settings.signing_secret, settings.previous_signing_secret),
               publisher_, settings.topic, registry, logger, {}, kafka::kMaxRecordBytes,
               settings.command_topic),
      server_(
          std::move(loops),
          {.address = settings.address,
           .port = settings.port,
           .max_connections = settings.max_connections,
           .body_limit = settings.max_body_bytes,
           .idle_timeout = settings.idle_timeout,
           .header_timeout = settings.header_timeout,
           .body_timeout = settings.body_timeout,
           .route_label = &IngestHandler::route_label,
           .refusal_headers = {{"x-slack-no-retry", "1"}}},
          [this](http::Request& request) { return handler_.handle(request); }, registry, logger),
      trim_timer_(strand_),
      memory_trims_(metrics::counter(registry, "tracker_ingest_memory_trims_total",
                                     "Times freed heap memory was given back to the system after "
                                     "a burst (malloc_trim).")) {
  reserve_descriptors(settings, logger);
}

void Service::listen() {
  server_.start();
}

asio::awaitable<bool> Service::run() {
  // On the strand, where stop() cancels the wait.
  co_return co_await asio::co_spawn(strand_, serve(), asio::use_awaitable);
}

asio::awaitable<bool> Service::serve() {
  asio::co_spawn(strand_, return_memory(), asio::detached);
  co_await stop_requested_.wait();
  trim_timer_.cancel();
  const std::size_t forced = co_await server_.shutdown(grace_);
  logger_.info("connections_closed", {{"closed_by_force", forced}});
  co_return true;
}

asio::awaitable<void> Service::return_memory() {
  constexpr std::size_t kWorthReturning = 8 * 1024 * 1024;
  while (!stop_requested_.is_set()) {
    trim_timer_.expires_after(std::chrono::seconds{2});
    auto [ec] = co_await trim_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stop_requested_.is_set()) break;
    const struct mallinfo2 held = mallinfo2();
    if (held.fordblks < kWorthReturning) continue;
    ::malloc_trim(0);
    memory_trims_.Increment();
    logger_.debug("memory_returned", {{"free_bytes", held.fordblks}});
  }
}

void Service::stop(std::chrono::milliseconds grace) {
  asio::post(strand_, [this, grace] {
    grace_ = grace;
    stop_requested_.set();
  });
}

}  // namespace tracker::ingest
