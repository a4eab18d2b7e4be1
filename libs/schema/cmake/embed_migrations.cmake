# Writes OUTPUT: a C++ source listing every MIGRATIONS_DIR/*.sql file as (file name, text).
file(GLOB files ${MIGRATIONS_DIR}/*.sql)
list(SORT files)
set(body "")
foreach(path IN LISTS files)
  get_filename_component(name ${path} NAME)
  file(READ ${path} sql)
  string(FIND "${sql}" ")tracker_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${name} contains the raw-string delimiter )tracker_sql\"")
  endif()
  string(APPEND body "    {\"${name}\", R\"tracker_sql(${sql})tracker_sql\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp
"// Generated from schemas/migrations by embed_migrations.cmake. Do not edit.
#include <string_view>
#include <utility>
#include <vector>

namespace tracker::schema::detail {
const std::vector<std::pair<std::string_view, std::string_view>>& migration_files() {
  static const std::vector<std::pair<std::string_view, std::string_view>> files = {
${body}  };
  return files;
}
}  // namespace tracker::schema::detail
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
