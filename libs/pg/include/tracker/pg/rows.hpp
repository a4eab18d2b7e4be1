#pragma once
// Query results and parameters, both in libpq's text format.
#include <libpq-fe.h>

#include <charconv>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tracker::pg {

struct ResultDeleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

class Rows {
 public:
  Rows() = default;
  explicit Rows(ResultPtr result) : result_(std::move(result)) {}

  [[nodiscard]] int size() const noexcept { return result_ ? PQntuples(result_.get()) : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] int columns() const noexcept { return result_ ? PQnfields(result_.get()) : 0; }
  // Index of the column named `name`, or -1.
  [[nodiscard]] int column(const char* name) const noexcept {
    return result_ ? PQfnumber(result_.get(), name) : -1;
  }
  // Rows changed by INSERT/UPDATE/DELETE (0 for other statements).
  [[nodiscard]] std::int64_t affected() const;

  [[nodiscard]] bool is_null(int row, int col) const noexcept {
    return PQgetisnull(result_.get(), row, col) != 0;
  }
  [[nodiscard]] std::string_view text(int row, int col) const noexcept {
    return {PQgetvalue(result_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(result_.get(), row, col))};
  }

  // Converts one value; throws std::invalid_argument naming the column if it does not fit T or
  // is NULL (use get<std::optional<T>> for nullable columns).
  template <typename T>
  [[nodiscard]] T get(int row, int col) const;

 private:
  [[noreturn]] void conversion_failed(int col, const char* wanted) const;
  ResultPtr result_;
};

template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

template <typename T>
T Rows::get(int row, int col) const {
  if constexpr (is_optional<T>::value) {
    if (is_null(row, col)) return std::nullopt;
    return get<typename T::value_type>(row, col);
  } else {
    if (is_null(row, col)) conversion_failed(col, "a value (got NULL)");
    const std::string_view value = text(row, col);
    if constexpr (std::is_same_v<T, std::string>) {
      return std::string(value);
    } else if constexpr (std::is_same_v<T, std::string_view>) {
      return value;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (value == "t") return true;
      if (value == "f") return false;
      conversion_failed(col, "a boolean");
    } else if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
      T out{};
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
      if (ec != std::errc{} || ptr != value.data() + value.size())
        conversion_failed(col, "a number");
      return out;
    } else {
      static_assert(std::is_same_v<T, void>, "unsupported column type");
    }
  }
}

// The items of a list a query joined with `separator` (array_to_string, string_agg); an empty
// text is an empty list.
std::vector<std::string> split_joined(std::string_view joined, char separator = ',');

// Query parameters in text format; NULL is std::nullopt.
class Params {
 public:
  Params() = default;
  template <typename... Args>
  explicit Params(Args&&... args) {
    values_.reserve(sizeof...(Args));
    (add(std::forward<Args>(args)), ...);
  }

  void add(std::nullopt_t) { values_.emplace_back(std::nullopt); }
  void add(std::string value) { values_.emplace_back(std::move(value)); }
  void add(std::string_view value) { values_.emplace_back(std::string(value)); }
  void add(const char* value) { values_.emplace_back(std::string(value)); }
  void add(bool value) { values_.emplace_back(value ? "true" : "false"); }
  template <typename T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) void add(T value) {
    char buffer[64];
    auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    values_.emplace_back(std::string(buffer, ptr));
  }
  template <typename T>
  void add(const std::optional<T>& value) {
    if (value) {
      add(*value);
    } else {
      add(std::nullopt);
    }
  }

  [[nodiscard]] int size() const noexcept { return static_cast<int>(values_.size()); }
  // Pointers into this object for PQsendQueryParams; valid while it lives unchanged.
  [[nodiscard]] std::vector<const char*> pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

}  // namespace tracker::pg
