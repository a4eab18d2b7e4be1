#include "multipart.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

namespace tracker::loadtest::openai {

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::map<std::string, std::string> header_parameters(std::string_view header) {
  std::map<std::string, std::string> out;
  std::size_t i = header.find(';');
  while (i != std::string_view::npos && i < header.size()) {
    ++i;  // past ';'
    const std::size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    const std::string name = lowercase(trim(header.substr(i, eq - i)));
    std::size_t j = eq + 1;
    while (j < header.size() && (header[j] == ' ' || header[j] == '\t')) ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      for (++j; j < header.size() && header[j] != '"'; ++j) {
        if (header[j] == '\\' && j + 1 < header.size()) ++j;
        value += header[j];
      }
      i = header.find(';', j);
    } else {
      const std::size_t end = header.find(';', j);
      value = std::string(trim(header.substr(j, end == std::string_view::npos ? end : end - j)));
      i = end;
    }
    out[name] = value;
  }
  return out;
}

std::vector<FormPart> parse_multipart(std::string_view body, const std::string& boundary) {
  const std::string delimiter = "--" + boundary;
  const std::string separator = "\r\n" + delimiter;
  std::size_t at = 0;
  if (!body.starts_with(delimiter)) {  // a preamble before the first delimiter is allowed
    at = body.find(separator);
    if (at == std::string_view::npos) throw std::invalid_argument("no boundary line found");
    at += 2;
  }
  at += delimiter.size();
  std::vector<FormPart> parts;
  for (;;) {
    if (body.substr(at, 2) == "--") return parts;  // the closing delimiter
    while (at < body.size() && (body[at] == ' ' || body[at] == '\t')) ++at;
    if (body.substr(at, 2) != "\r\n") {
      throw std::invalid_argument("a boundary line is not followed by CRLF");
    }
    at += 2;
    const std::size_t headers_end = body.substr(at, 2) == "\r\n" ? at : body.find("\r\n\r\n", at);
    if (headers_end == std::string_view::npos) {
      throw std::invalid_argument("a part's headers do not end with an empty line");
    }
    FormPart part;
    bool has_disposition = false;
    std::string_view headers = body.substr(at, headers_end - at);
    while (!headers.empty()) {
      const std::size_t eol = headers.find("\r\n");
      const std::string_view line = headers.substr(0, eol);
      const std::size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          lowercase(trim(line.substr(0, colon))) == "content-disposition") {
        const std::string_view value = trim(line.substr(colon + 1));
        if (!lowercase(value).starts_with("form-data")) {
          throw std::invalid_argument("a part's Content-Disposition is not form-data");
        }
        const auto parameters = header_parameters(value);
        if (const auto name = parameters.find("name"); name != parameters.end()) {
          part.name = name->second;
        }
        if (const auto file = parameters.find("filename"); file != parameters.end()) {
          part.filename = file->second;
        }
        has_disposition = true;
      }
      if (eol == std::string_view::npos) break;
      headers.remove_prefix(eol + 2);
    }
    if (!has_disposition || part.name.empty()) {
      throw std::invalid_argument("a part has no Content-Disposition with a name");
    }
    const std::size_t content_start = headers_end + 4 - (headers_end == at ? 2 : 0);
    const std::size_t content_end = body.find(separator, content_start);
    if (content_end == std::string_view::npos) {
      throw std::invalid_argument("part \"" + part.name + "\" is not closed by a boundary line");
    }
    part.content = std::string(body.substr(content_start, content_end - content_start));
    parts.push_back(std::move(part));
    at = content_end + separator.size();
  }
}

}  // namespace tracker::loadtest::openai
