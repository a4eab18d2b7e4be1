#include <tracker/summarizer/model.hpp>

namespace tracker::summarizer {

Model make_model(service::Host& host, const Settings& s) {
  Model model;
  if (s.options.provider != "openai") return model;
  auto& http = host.http_client({.base_url = s.openai_base_url,
                                 .max_connections = s.connections,
                                 .request_timeout = s.chat.request_timeout,
                                 // Batch output files hold every answer.
                                 .body_limit = (s.options.batch ? 512ULL : 8ULL) * 1024 * 1024,
                                 .ca_file = s.openai_ca_file});
  model.chat = &host.make<llm::ChatClient>(host.executor(), http, s.api_key, host.registry(),
                                           host.logger(), s.chat);
  if (s.options.batch) {
    model.batches = &host.make<llm::BatchApi>(host.executor(), http, s.api_key);
  }
  return model;
}

}  // namespace tracker::summarizer
