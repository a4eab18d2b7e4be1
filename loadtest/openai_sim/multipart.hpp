#pragma once
// multipart/form-data as the Files API receives it (RFC 7578), the parameters of a header such
// as Content-Type, and the two text helpers they need.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracker::loadtest::openai {

std::string lowercase(std::string_view text);
// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view text);

// `type/subtype; name=value; name="quoted; value"` -> lowercased name -> unquoted value.
std::map<std::string, std::string> header_parameters(std::string_view header);

struct FormPart {
  std::string name;
  std::optional<std::string> filename;
  std::string content;
};

// Parts between CRLF "--boundary" lines, each with its headers, an empty line, and its content.
// Throws std::invalid_argument saying what is malformed.
std::vector<FormPart> parse_multipart(std::string_view body, const std::string& boundary);

}  // namespace tracker::loadtest::openai
