#include <tracker/pg/rows.hpp>

#include <stdexcept>

namespace tracker::pg {

std::int64_t Rows::affected() const {
  if (!result_) return 0;
  const std::string_view tuples = PQcmdTuples(result_.get());
  std::int64_t count = 0;
  std::from_chars(tuples.data(), tuples.data() + tuples.size(), count);
  return count;
}

void Rows::conversion_failed(int col, const char* wanted) const {
  const char* name = result_ ? PQfname(result_.get(), col) : nullptr;
  throw std::invalid_argument(std::string("column ") + (name ? name : std::to_string(col)) +
                              ": expected " + wanted);
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& value : values_) out.push_back(value ? value->c_str() : nullptr);
  return out;
}

std::vector<std::string> split_joined(std::string_view joined, char separator) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const auto at = joined.find(separator);
    out.emplace_back(joined.substr(0, at));
    if (at == std::string_view::npos) break;
    joined.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace tracker::pg
