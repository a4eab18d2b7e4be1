// config::parse_number: the one way tools read numbers from their command lines.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include <tracker/config/number.hpp>

using tracker::config::parse_number;

TEST(ParseNumber, WholeNumbersWithinBounds) {
  std::string error;
  EXPECT_EQ(parse_number<std::uint16_t>("--port", "8080", 1, 65535, error), 8080);
  EXPECT_EQ(parse_number<std::int64_t>("--from", "-5", -10, 10, error), -5);
  EXPECT_EQ(parse_number<std::uint16_t>("--port", "70000", 1, 65535, error), std::nullopt);
  EXPECT_EQ(error, "--port: 70000 is out of range [1, 65535]");
  // Too large even for the widest type: out of range, not "not a number".
  EXPECT_EQ(parse_number<std::int32_t>("--n", "99999999999999999999999", 0, 10, error),
            std::nullopt);
  EXPECT_EQ(error, "--n: 99999999999999999999999 is out of range [0, 10]");
  for (const char* bad : {"", "12x", " 12", "+12", "1.5", "-1"}) {
    EXPECT_EQ(parse_number<std::uint32_t>("--count", bad, 0, 100, error), std::nullopt) << bad;
    EXPECT_EQ(error, "--count: not a number: '" + std::string(bad) + "'");
  }
}

TEST(ParseNumber, FractionsWithinBounds) {
  std::string error;
  EXPECT_EQ(parse_number("--scale", "0.02", 0.0001, 1.0, error), 0.02);
  EXPECT_EQ(parse_number("--rate", "1e3", 1.0, 1e6, error), 1000.0);
  EXPECT_EQ(parse_number("--scale", "1.5", 0.0001, 1.0, error), std::nullopt);
  EXPECT_EQ(error, "--scale: 1.5 is out of range [0.0001, 1]");
  EXPECT_EQ(parse_number("--p", "nan", 0.0, 1.0, error), std::nullopt);
  EXPECT_EQ(parse_number("--p", "fast", 0.0, 1.0, error), std::nullopt);
  EXPECT_EQ(error, "--p: not a number: 'fast'");
}
