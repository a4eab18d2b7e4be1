#include <tracker/http/form.hpp>

#include <boost/url/encode.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace tracker::http {

namespace urls = boost::urls;

std::string form_encode(std::string_view text) {
  return urls::encode(text, urls::unreserved_chars);
}

std::string form_body(const FormFields& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body += '&';
    body += form_encode(name);
    body += '=';
    body += form_encode(value);
  }
  return body;
}

std::optional<std::string> form_decode(std::string_view encoded) {
  // From a view of its own bytes: Boost.URL 1.81's parse_query can size the last value's
  // decoding from memory past the end of the view it was given.
  auto view = urls::make_pct_string_view(encoded);
  if (!view) return std::nullopt;
  urls::encoding_opts options;
  options.space_as_plus = true;
  return view->decode(options);
}

std::optional<FormFields> parse_form(std::string_view body) {
  FormFields fields;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto equals = pair.find('=');
    auto name = form_decode(pair.substr(0, equals));
    auto value = form_decode(equals == std::string_view::npos ? std::string_view{}
                                                              : pair.substr(equals + 1));
    if (!name || !value) return std::nullopt;
    if (!pair.empty()) fields.emplace_back(std::move(*name), std::move(*value));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return fields;
}

std::optional<std::string> form_value(const FormFields& fields, std::string_view name) {
  for (const auto& [key, value] : fields) {
    if (key == name) return value;
  }
  return std::nullopt;
}

std::string_view query_of(std::string_view target) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return {};
  return target.substr(question + 1);
}

}  // namespace tracker::http
