#include <gtest/gtest.h>

#include <tracker/pg/connection.hpp>
#include <tracker/pg/error.hpp>
#include <tracker/pg/rows.hpp>
#include <tracker/pg/transaction.hpp>

using tracker::pg::Error;
using tracker::pg::Params;

TEST(Params, ConvertsValuesToTextAndNullToNullPointer) {
  const std::optional<std::string> missing;
  const std::optional<int> present = 7;
  Params params{std::string("T1"),
                "U1",
                std::string_view("C1"),
                42,
                std::int64_t{-9000000000},
                2.5,
                true,
                std::nullopt,
                missing,
                present};
  const auto values = params.pointers();
  ASSERT_EQ(params.size(), 10);
  EXPECT_STREQ(values[0], "T1");
  EXPECT_STREQ(values[1], "U1");
  EXPECT_STREQ(values[2], "C1");
  EXPECT_STREQ(values[3], "42");
  EXPECT_STREQ(values[4], "-9000000000");
  EXPECT_STREQ(values[5], "2.5");
  EXPECT_STREQ(values[6], "true");
  EXPECT_EQ(values[7], nullptr);
  EXPECT_EQ(values[8], nullptr);
  EXPECT_STREQ(values[9], "7");
}

TEST(PgError, ClassifiesSqlStates) {
  EXPECT_TRUE((Error{Error::Kind::query, "23505", "dup"}.unique_violation()));
  EXPECT_TRUE((Error{Error::Kind::query, "40001", "ser"}.transient()));
  EXPECT_TRUE((Error{Error::Kind::query, "40P01", "deadlock"}.transient()));
  EXPECT_FALSE((Error{Error::Kind::query, "23505", "dup"}.transient()));
  EXPECT_FALSE((Error{Error::Kind::connection, "", "refused"}.transient()));
}

TEST(PgError, DescribeNamesKindStateAndMessage) {
  EXPECT_EQ((Error{Error::Kind::query, "42P01", "relation \"x\" does not exist"}.describe()),
            "postgresql query error [42P01]: relation \"x\" does not exist");
  EXPECT_EQ((Error{Error::Kind::timeout, "", "late"}.describe()), "postgresql timeout error: late");
}

TEST(PgError, ValueOnAnErrorResultThrowsPgException) {
  tracker::pg::Result<int> result = Error{Error::Kind::pool, "", "busy"};
  EXPECT_THROW(static_cast<void>(result.value()), tracker::pg::PgException);
}

TEST(Transaction, BeginStatementNamesTheIsolationLevel) {
  using tracker::pg::Isolation;
  EXPECT_EQ(tracker::pg::begin_statement(Isolation::serializable),
            "BEGIN ISOLATION LEVEL SERIALIZABLE");
  EXPECT_EQ(tracker::pg::begin_statement(Isolation::read_committed),
            "BEGIN ISOLATION LEVEL READ COMMITTED");
}

TEST(ConninfoPassword, FoundInUrlAndKeyValueForms) {
  using tracker::pg::conninfo_password;
  EXPECT_EQ(conninfo_password("postgresql://tracker:s3cr%40t@127.0.0.1:15432/tracker"), "s3cr@t");
  EXPECT_EQ(conninfo_password("host=db user=app password='p w' dbname=x"), "p w");
  EXPECT_FALSE(conninfo_password("postgresql://tracker@127.0.0.1/tracker").has_value());
  EXPECT_FALSE(conninfo_password("not a conninfo = = =").has_value());
}
