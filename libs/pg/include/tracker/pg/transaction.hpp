#pragma once
// Runs a function inside a transaction on a pooled connection:
//
//   auto result = co_await pg::in_transaction(pool, [&](pg::Connection& c)
//       -> asio::awaitable<pg::Result<int>> {
//     auto rows = co_await c.execute(kInsert, pg::Params{a, b});
//     if (!rows) co_return rows.error();
//     co_return static_cast<int>(rows->affected());
//   });
//
// The function's error rolls back; success commits. A serialization failure or deadlock (at
// any statement or at COMMIT) runs the whole function again on a fresh transaction, up to
// `max_attempts` times. An exception from the function rolls back and is rethrown.
#include <exception>
#include <optional>
#include <string>
#include <type_traits>

#include <boost/asio/awaitable.hpp>

#include <tracker/pg/pool.hpp>

namespace tracker::pg {

enum class Isolation { read_committed, repeatable_read, serializable };

struct TransactionOptions {
  Isolation isolation = Isolation::read_committed;
  int max_attempts = 3;
};

inline std::string begin_statement(Isolation isolation) {
  switch (isolation) {
    case Isolation::repeatable_read: return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case Isolation::serializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case Isolation::read_committed: break;
  }
  return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

template <typename F>
auto in_transaction(Pool& pool, F fn, TransactionOptions options = {})
    -> std::invoke_result_t<F&, Connection&> {
  using Awaitable = std::invoke_result_t<F&, Connection&>;
  using R = typename Awaitable::value_type;  // Result<T>
  std::optional<Error> last_error;
  for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
    auto lease = co_await pool.acquire();
    if (!lease) co_return lease.error();
    Connection& connection = **lease;
    if (auto begun = co_await connection.query(begin_statement(options.isolation)); !begun) {
      co_return begun.error();
    }
    std::exception_ptr thrown;
    std::optional<R> outcome;
    try {
      outcome.emplace(co_await fn(connection));
    } catch (...) {
      thrown = std::current_exception();
    }
    if (thrown || !outcome->has_value()) {
      // A failed ROLLBACK leaves the connection mid-transaction; the pool then discards it.
      static_cast<void>(co_await connection.query("ROLLBACK"));
      if (thrown) std::rethrow_exception(thrown);
      if (!outcome->error().transient()) co_return std::move(*outcome);
      last_error = outcome->error();
      continue;
    }
    auto committed = co_await connection.query("COMMIT");
    if (committed) co_return std::move(*outcome);
    if (!committed.error().transient()) co_return committed.error();
    last_error = committed.error();
  }
  co_return *last_error;
}

}  // namespace tracker::pg
