#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <tracker/pg/migrations.hpp>

#include "run.hpp"

using tracker::pg::parse_migration;

struct NameCase {
  const char* file;
  bool valid;
};

class MigrationName : public ::testing::TestWithParam<NameCase> {};

TEST_P(MigrationName, AcceptsOnlyNumberUnderscoreNameDotSql) {
  if (GetParam().valid) {
    EXPECT_NO_THROW(parse_migration(GetParam().file, "SELECT 1"));
  } else {
    EXPECT_THROW(parse_migration(GetParam().file, "SELECT 1"), std::invalid_argument)
        << GetParam().file;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, MigrationName,
    ::testing::Values(NameCase{"0001_init.sql", true}, NameCase{"12_add_index.sql", true},
                      NameCase{"init.sql", false}, NameCase{"0001.sql", false},
                      NameCase{"0001_.sql", false}, NameCase{"_init.sql", false},
                      NameCase{"0000_zero.sql", false}, NameCase{"00a1_x.sql", false},
                      NameCase{"0001_init.txt", false}));

TEST(Migration, NameAndVersionComeFromTheFileName) {
  auto m = parse_migration("0003_add_summaries.sql", "CREATE TABLE s ();");
  EXPECT_EQ(m.version, 3);
  EXPECT_EQ(m.name, "add_summaries");
}

TEST(Migration, ChecksumIsSha256OfTheText) {
  auto m = parse_migration("0001_a.sql", "abc");
  EXPECT_EQ(m.checksum(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(parse_migration("0001_a.sql", "abc ").checksum(), m.checksum());
}

class MigrationDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / tracker::testing::unique_name("migrations");
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(MigrationDirectory, LoadsSqlFilesInVersionOrderAndIgnoresOthers) {
  write("0010_later.sql", "SELECT 10;");
  write("0002_second.sql", "SELECT 2;");
  write("0001_first.sql", "SELECT 1;");
  write("README.md", "not a migration");
  auto all = tracker::pg::load_migrations(dir_);
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].version, 1);
  EXPECT_EQ(all[1].version, 2);
  EXPECT_EQ(all[2].version, 10);
  EXPECT_EQ(all[2].sql, "SELECT 10;");
}

TEST_F(MigrationDirectory, DuplicateVersionIsRejected) {
  write("0001_first.sql", "SELECT 1;");
  write("1_again.sql", "SELECT 1;");
  EXPECT_THROW(tracker::pg::load_migrations(dir_), std::invalid_argument);
}
