#pragma once
#include <vector>

#include <tracker/pg/migrations.hpp>

namespace tracker::schema {

// The migrations of schemas/migrations, as they were when this binary was built, in order.
const std::vector<pg::Migration>& migrations();

}  // namespace tracker::schema
