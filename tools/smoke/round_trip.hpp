#pragma once
// One round trip through the real stack, step by step, for people to watch:
// publish a Slack event envelope to slack-events, consume it in a fresh consumer group, store it
// as a study log in PostgreSQL, read the row back, and remove it again.
#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include <tracker/log/logger.hpp>

namespace tracker::smoke {

struct RoundTripOptions {
  std::string brokers;
  std::string database_url;
  std::chrono::seconds limit{60};  // the whole trip, every wait included
};

// Prints each step to stdout; returns true when the row made it into PostgreSQL.
boost::asio::awaitable<bool> round_trip(RoundTripOptions options, log::Logger& logger);

}  // namespace tracker::smoke
