#pragma once
// What /study reads and changes of a person: their study logs per local day, and their settings
// (users: time_zone, summary_hour, opted_out). A person the tracker has not seen yet has the
// defaults the worker would give them (TRACKER_DEFAULT_TIME_ZONE, TRACKER_DEFAULT_SUMMARY_HOUR);
// a setting changed with /study creates their row.
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/pg/error.hpp>
#include <tracker/pg/pool.hpp>

namespace tracker::app {

struct PersonDefaults {
  std::string time_zone = "Asia/Seoul";
  int summary_hour = 21;
};

struct Person {
  std::string time_zone;
  int summary_hour = 21;
  bool paused = false;
  bool known = false;  // has a users row
  std::string locale;  // Slack's, e.g. "ko-KR"; empty until Slack said
};

// One local day of a person's study logs.
struct StudyDay {
  std::string day;  // YYYY-MM-DD, in the person's time zone
  int logs = 0;
  int minutes = 0;  // from the logs' duration hints
  std::vector<std::string> topics;
};

class StudyStore {
 public:
  StudyStore(pg::Pool& pool, PersonDefaults defaults)
      : pool_(pool), defaults_(std::move(defaults)) {}
  virtual ~StudyStore() = default;

  virtual boost::asio::awaitable<pg::Result<Person>> person(std::string team_id,
                                                            std::string user_id);
  // The last `count` local days in `time_zone` (the person's), today last, each present (zero
  // when nothing was logged).
  virtual boost::asio::awaitable<pg::Result<std::vector<StudyDay>>> days(std::string team_id,
                                                                         std::string user_id,
                                                                         std::string time_zone,
                                                                         int count);
  // The person's latest feedback: (day, text), both empty when there is none.
  virtual boost::asio::awaitable<pg::Result<std::pair<std::string, std::string>>> latest_feedback(
      std::string team_id, std::string user_id);
  // False when PostgreSQL knows no such time zone (nothing changed).
  virtual boost::asio::awaitable<pg::Result<bool>> set_time_zone(std::string team_id,
                                                                 std::string user_id,
                                                                 std::string zone);
  // A time zone Slack gave for the person (users.info, user_change): kept unless they set one
  // with /study settings tz, or PostgreSQL knows no such zone. True when it changed the row.
  virtual boost::asio::awaitable<pg::Result<bool>> learn_time_zone(std::string team_id,
                                                                   std::string user_id,
                                                                   std::string zone);
  // The locale Slack gave for the person (users.info with include_locale, user_change).
  virtual boost::asio::awaitable<pg::Result<void>> learn_locale(std::string team_id,
                                                                std::string user_id,
                                                                std::string locale);
  // 'default', 'slack' or 'user'; empty for a person without a row.
  virtual boost::asio::awaitable<pg::Result<std::string>> time_zone_source(std::string team_id,
                                                                           std::string user_id);
  virtual boost::asio::awaitable<pg::Result<void>> set_summary_hour(std::string team_id,
                                                                    std::string user_id, int hour);
  virtual boost::asio::awaitable<pg::Result<void>> set_paused(std::string team_id,
                                                              std::string user_id, bool paused);

 private:
  pg::Pool& pool_;
  PersonDefaults defaults_;
};

}  // namespace tracker::app
