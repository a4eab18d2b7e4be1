#pragma once
// application/x-www-form-urlencoded bodies and URL query strings (Boost.URL): what Slack's
// slash commands and OAuth redirects send, and what oauth.v2.access takes.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker::http {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// Percent-encodes every byte but the unreserved ones (RFC 3986: letters, digits, "-._~").
std::string form_encode(std::string_view text);
// name=value&... with both sides encoded by form_encode.
std::string form_body(const FormFields& fields);

// Decodes one form-encoded name or value: '+' is a space, %XX a byte. std::nullopt when a
// %-escape is malformed.
std::optional<std::string> form_decode(std::string_view encoded);

// Decodes "a=1&b=x+y%21": '+' is a space, %XX a byte. std::nullopt when a %-escape is malformed.
// A field without '=' has an empty value.
std::optional<FormFields> parse_form(std::string_view body);

// The first value of `name`, or std::nullopt.
std::optional<std::string> form_value(const FormFields& fields, std::string_view name);

// The query of a request target ("/slack/oauth_redirect?code=1&state=2" -> "code=1&state=2").
std::string_view query_of(std::string_view target);

}  // namespace tracker::http
