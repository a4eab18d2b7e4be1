#include <tracker/log/redaction.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>

namespace tracker::log {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

void replace_all(std::string& text, const std::string& needle) {
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + kRedacted.size())) {
    text.replace(pos, needle.size(), kRedacted);
  }
}

}  // namespace

bool is_secret_key(std::string_view key) {
  static constexpr std::array<std::string_view, 9> kMarkers = {
      "token",     "secret",  "password", "passwd", "authorization",
      "signature", "api_key", "apikey",   "cookie"};
  const std::string k = lower(key);
  return std::any_of(kMarkers.begin(), kMarkers.end(),
                     [&](std::string_view marker) { return k.find(marker) != std::string::npos; });
}

std::string text_prefix(std::string_view text) {
  if (text.size() <= kTextPrefix) return std::string(text);
  std::size_t cut = kTextPrefix;
  // Do not split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  return std::string(text.substr(0, cut)) + "…(" + std::to_string(text.size()) + " bytes)";
}

void scrub(nlohmann::json& value, const std::vector<std::string>& secrets) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (is_secret_key(it.key())) {
        it.value() = kRedacted;
      } else if (it.key() == "text" && it.value().is_string()) {
        // Redact before cutting: a secret straddling the cut would no longer match.
        std::string s = it.value().get<std::string>();
        for (const auto& secret : secrets) replace_all(s, secret);
        it.value() = text_prefix(s);
      } else {
        scrub(it.value(), secrets);
      }
    }
  } else if (value.is_array()) {
    for (auto& element : value) scrub(element, secrets);
  } else if (value.is_string() && !secrets.empty()) {
    auto& s = value.get_ref<std::string&>();
    for (const auto& secret : secrets) replace_all(s, secret);
  }
}

std::string redact_connection_string(std::string_view conninfo) {
  std::string text(conninfo);
  // URL form: scheme://user:password@host...
  static const std::regex kUrlPassword(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:)[^@]*@)");
  text = std::regex_replace(text, kUrlPassword, std::string("$1") + std::string(kRedacted) + "@");
  // URL query parameter or key=value form: password=...
  static const std::regex kKeyPassword(R"((password\s*=\s*)('[^']*'|[^\s&]*))", std::regex::icase);
  return std::regex_replace(text, kKeyPassword, std::string("$1") + std::string(kRedacted));
}

}  // namespace tracker::log
