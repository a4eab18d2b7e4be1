#include <tracker/schema/migrations.hpp>

#include <string>
#include <utility>

namespace tracker::schema {

namespace detail {
const std::vector<std::pair<std::string_view, std::string_view>>& migration_files();
}

const std::vector<pg::Migration>& migrations() {
  static const std::vector<pg::Migration> all = [] {
    std::vector<pg::Migration> out;
    for (const auto& [name, sql] : detail::migration_files()) {
      out.push_back(pg::parse_migration(std::string(name), std::string(sql)));
    }
    return out;
  }();
  return all;
}

}  // namespace tracker::schema
