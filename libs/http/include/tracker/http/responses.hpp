#pragma once
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tracker::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

// A small, well-formed JSON error: {"error":"<code>","detail":"<detail>"}.
Response error_response(beast_http::status status, std::string_view code, std::string_view detail,
                        unsigned version = 11);
Response json_response(beast_http::status status, std::string body, unsigned version = 11);
Response empty_response(beast_http::status status, unsigned version = 11);
// 405 with Allow: `allow` (e.g. "POST"), saying which method to use.
Response method_not_allowed(std::string_view allow, unsigned version = 11);

}  // namespace tracker::http
