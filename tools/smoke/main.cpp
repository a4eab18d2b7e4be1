// tracker-smoke: KAFKA_BROKERS and DATABASE_URL in, one visible round trip out; exit 0 on success.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/pg/connection.hpp>

#include "round_trip.hpp"

int main() {
  tracker::log::Logger logger({.service = "tracker-smoke", .min_level = tracker::log::Level::warn});
  tracker::smoke::RoundTripOptions options;
  try {
    tracker::config::Env env;
    options.brokers = env.kafka_brokers("KAFKA_BROKERS");
    options.database_url = env.required("DATABASE_URL");
    env.finish();
  } catch (const tracker::config::ConfigError& error) {
    logger.error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  logger.redact(options.database_url);
  if (auto password = tracker::pg::conninfo_password(options.database_url)) {
    logger.redact(*password);
  }
  boost::asio::io_context io;
  bool ok = false;
  boost::asio::co_spawn(io, tracker::smoke::round_trip(options, logger),
                        [&](std::exception_ptr error, bool result) {
                          if (error) {
                            try {
                              std::rethrow_exception(error);
                            } catch (const std::exception& e) {
                              logger.error("smoke_crashed", {{"error", e.what()}});
                            }
                          }
                          ok = result && !error;
                        });
  io.run();
  return ok ? 0 : 1;
}
