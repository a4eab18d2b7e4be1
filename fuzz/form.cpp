// Form-encoded bodies and query strings (libs/http form.cpp): what slash commands, interactivity
// payloads and OAuth redirects send. The input is a body.
//
// Checked: parse_form either refuses or gives fields that form_body encodes and parse_form reads
// back equal; form_decode(form_encode(x)) == x for every name and value; form_value finds the
// first field of a name; query_of is a suffix of its input. Nothing throws.
#include <string>

#include <tracker/http/form.hpp>

#include "fuzz_support.hpp"

using tracker::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = tracker::fuzz::as_text(data, size);
  const auto query = tracker::http::query_of(body);
  require(body.ends_with(query), "query_of is not a suffix of the target");

  const auto decoded = tracker::http::form_decode(body);
  if (decoded) {
    const std::string encoded = tracker::http::form_encode(*decoded);
    require(tracker::http::form_decode(encoded) == decoded, "form_decode(form_encode(x)) != x");
  }

  const auto fields = tracker::http::parse_form(body);
  if (!fields) return 0;
  for (const auto& [name, value] : *fields) {
    require(tracker::http::form_decode(tracker::http::form_encode(name)) == name, "name");
    require(tracker::http::form_decode(tracker::http::form_encode(value)) == value, "value");
  }
  if (!fields->empty()) {
    const auto& [name, value] = fields->front();
    require(tracker::http::form_value(*fields, name) == value, "form_value is not the first");
  }
  const std::string again = tracker::http::form_body(*fields);
  const auto reparsed = tracker::http::parse_form(again);
  require(reparsed.has_value(), "parse_form refuses what form_body wrote", again);
  // A field with an empty name and value ("=") is kept; only empty pairs ("&&") are dropped.
  require(*reparsed == *fields, "parse_form(form_body(fields)) != fields", again);
  return 0;
}
