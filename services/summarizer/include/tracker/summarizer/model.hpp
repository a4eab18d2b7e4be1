#pragma once
// The model clients a summarizer's settings ask for, made on the service host: for the openai
// provider an HTTP client to OPENAI_BASE_URL, the chat client (limits, retries, breaker) and,
// with TRACKER_SUMMARIZER_BATCH, the Batch API; for the offline provider none.
#include <tracker/llm/batch_api.hpp>
#include <tracker/llm/chat_client.hpp>
#include <tracker/service/host.hpp>

#include <tracker/summarizer/settings.hpp>

namespace tracker::summarizer {

struct Model {
  llm::ChatClient* chat = nullptr;   // null: offline
  llm::BatchApi* batches = nullptr;  // null: one request per summary
};

Model make_model(service::Host& host, const Settings& settings);

}  // namespace tracker::summarizer
