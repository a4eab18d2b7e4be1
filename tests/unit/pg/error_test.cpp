#include <gtest/gtest.h>

#include <tracker/pg/error.hpp>

namespace tracker::pg {
namespace {

Disposition of_state(const std::string& sqlstate) {
  return classify(Error{.kind = Error::Kind::query, .sqlstate = sqlstate, .message = "m"});
}

TEST(PgErrorClassify, DataExceptionsConstraintsAndLimitsAreTheData) {
  EXPECT_EQ(of_state("22021"), Disposition::data);  // invalid byte sequence (a NUL in text)
  EXPECT_EQ(of_state("22001"), Disposition::data);  // value too long
  EXPECT_EQ(of_state("23505"), Disposition::data);  // unique violation
  EXPECT_EQ(of_state("23503"), Disposition::data);  // foreign key violation
  EXPECT_EQ(of_state("54000"), Disposition::data);  // program limit exceeded
}

TEST(PgErrorClassify, TheDatabasesConditionIsRetryable) {
  EXPECT_EQ(of_state("40001"), Disposition::retryable);  // serialization failure
  EXPECT_EQ(of_state("40P01"), Disposition::retryable);  // deadlock
  EXPECT_EQ(of_state("08006"), Disposition::retryable);  // connection failure
  EXPECT_EQ(of_state("53300"), Disposition::retryable);  // too many connections
  EXPECT_EQ(of_state("57P01"), Disposition::retryable);  // admin shutdown
  EXPECT_EQ(of_state("57014"), Disposition::retryable);  // statement timeout
  EXPECT_EQ(of_state("58030"), Disposition::retryable);  // io error
  EXPECT_EQ(of_state("55P03"), Disposition::retryable);  // lock not available
  EXPECT_EQ(of_state(""), Disposition::retryable);       // no state: the answer was lost
  for (const auto kind : {Error::Kind::connection, Error::Kind::timeout, Error::Kind::pool}) {
    EXPECT_EQ(classify(Error{.kind = kind, .message = "m"}), Disposition::retryable);
  }
}

TEST(PgErrorClassify, DeploymentAndProgrammingErrorsAreFatal) {
  EXPECT_EQ(of_state("42P01"), Disposition::fatal);  // undefined table
  EXPECT_EQ(of_state("42501"), Disposition::fatal);  // insufficient privilege
  EXPECT_EQ(of_state("42601"), Disposition::fatal);  // syntax error
  EXPECT_EQ(of_state("28P01"), Disposition::fatal);  // invalid password
  EXPECT_EQ(of_state("3D000"), Disposition::fatal);  // invalid catalog name
  EXPECT_EQ(of_state("55000"), Disposition::fatal);  // object not in prerequisite state
  EXPECT_EQ(classify(Error{.kind = Error::Kind::usage, .message = "m"}), Disposition::fatal);
  EXPECT_STREQ(to_string(Disposition::fatal), "fatal");
  EXPECT_STREQ(to_string(Disposition::data), "data");
  EXPECT_STREQ(to_string(Disposition::retryable), "retryable");
}

}  // namespace
}  // namespace tracker::pg
