// The Files API: upload (multipart/form-data with a purpose and a file), retrieve, content and
// delete. Batch output and error files are stored here too, by batches.cpp.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "multipart.hpp"
#include "openai_simulator.hpp"
#include "openai_wire.hpp"
#include "simulator_records.hpp"

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using nlohmann::json;
using openai::dump;
using openai::FormPart;
using openai::header_parameters;
using openai::invalid_request;
using openai::lowercase;
using openai::no_such_file;
using openai::parse_multipart;
using openai::unix_now_ms;

http::Response OpenAiSimulator::upload_file(const http::Request& request) {
  const unsigned version = request.version();
  const std::string content_type(request[bh::field::content_type]);
  if (!lowercase(content_type).starts_with("multipart/form-data")) {
    return invalid_request(
        "Invalid Content-Type header (" + content_type + "), expected multipart/form-data.",
        nullptr, version);
  }
  const auto parameters = header_parameters(content_type);
  const auto boundary = parameters.find("boundary");
  if (boundary == parameters.end() || boundary->second.empty()) {
    return invalid_request("The multipart/form-data Content-Type has no boundary.", nullptr,
                           version);
  }
  std::vector<FormPart> parts;
  try {
    parts = parse_multipart(request.body(), boundary->second);
  } catch (const std::invalid_argument& error) {
    return invalid_request(std::string("Could not parse the multipart form: ") + error.what() + ".",
                           nullptr, version);
  }
  const FormPart* purpose = nullptr;
  const FormPart* file = nullptr;
  for (const auto& part : parts) {
    if (part.name == "purpose") purpose = &part;
    if (part.name == "file") file = &part;
  }
  if (purpose == nullptr) {
    return invalid_request("Missing required parameter: 'purpose'.", "purpose", version);
  }
  static const std::vector<std::string> kPurposes = {"assistants", "batch",     "fine-tune",
                                                     "vision",     "user_data", "evals"};
  if (std::find(kPurposes.begin(), kPurposes.end(), purpose->content) == kPurposes.end()) {
    return invalid_request("Invalid value for 'purpose': '" + purpose->content +
                               "'. Supported values are: 'assistants', 'batch', 'fine-tune', "
                               "'vision', 'user_data' and 'evals'.",
                           "purpose", version);
  }
  if (file == nullptr) {
    return invalid_request("Missing required parameter: 'file'.", "file", version);
  }
  if (!file->filename || file->filename->empty()) {
    return invalid_request("The 'file' part must be a file upload with a filename.", "file",
                           version);
  }
  StoredFile stored;
  stored.id = "file-sim" + std::to_string(next_file_++);
  stored.filename = *file->filename;
  stored.purpose = purpose->content;
  stored.content = file->content;
  stored.created_at = unix_now_ms() / 1000;
  ++stats_.files_uploaded;
  logger_.info(
      "openai_sim_file_uploaded",
      {{"file_id", stored.id}, {"bytes", stored.content.size()}, {"purpose", stored.purpose}});
  const json object = stored.object();
  files_.emplace(stored.id, std::move(stored));
  return http::json_response(bh::status::ok, dump(object), version);
}

http::Response OpenAiSimulator::file_request(const http::Request& request, const std::string& id,
                                             bool content) {
  const unsigned version = request.version();
  const auto file = files_.find(id);
  if (file == files_.end()) return no_such_file(id, "id", version);
  if (content) {
    http::Response response(bh::status::ok, version);
    response.set(bh::field::content_type, "application/octet-stream");
    response.set(bh::field::content_disposition,
                 "attachment; filename=\"" + file->second.filename + "\"");
    response.body() = file->second.content;
    response.prepare_payload();
    return response;
  }
  if (request.method() == bh::verb::delete_) {
    files_.erase(file);
    return http::json_response(bh::status::ok,
                               dump({{"id", id}, {"object", "file"}, {"deleted", true}}), version);
  }
  return http::json_response(bh::status::ok, dump(file->second.object()), version);
}

}  // namespace tracker::loadtest
