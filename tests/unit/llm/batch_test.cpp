// Batch API pieces: input lines, the upload body, batch objects, result files.
#include <gtest/gtest.h>

#include <tracker/llm/batch.hpp>

TEST(Batch, InputLineCarriesTheCustomIdAndTheRequest) {
  const tracker::llm::ChatRequest request{.model = "m", .messages = {{"user", "hi"}}};
  const auto line = nlohmann::json::parse(tracker::llm::batch_input_line("job-1", request));
  EXPECT_EQ(line["custom_id"], "job-1");
  EXPECT_EQ(line["method"], "POST");
  EXPECT_EQ(line["url"], "/v1/chat/completions");
  EXPECT_EQ(line["body"]["model"], "m");
}

TEST(Batch, UploadIsMultipartWithPurposeAndFile) {
  const auto upload = tracker::llm::file_upload("batch", "jobs.jsonl", "{\"a\":1}\n");
  const std::string boundary =
      upload.content_type.substr(upload.content_type.find("boundary=") + 9);
  EXPECT_NE(upload.body.find("--" + boundary + "\r\n"), std::string::npos);
  EXPECT_NE(upload.body.find("name=\"purpose\"\r\n\r\nbatch\r\n"), std::string::npos);
  EXPECT_NE(upload.body.find("filename=\"jobs.jsonl\""), std::string::npos);
  EXPECT_NE(upload.body.find("{\"a\":1}\n\r\n--" + boundary + "--"), std::string::npos);
}

TEST(Batch, ReadsABatchObject) {
  const auto status = tracker::llm::parse_batch(nlohmann::json::parse(R"({
    "id":"batch_1","object":"batch","status":"completed","output_file_id":"file-2",
    "error_file_id":null,"request_counts":{"total":3,"completed":2,"failed":1}})"));
  EXPECT_EQ(status.id, "batch_1");
  EXPECT_TRUE(status.finished());
  EXPECT_EQ(status.output_file_id, "file-2");
  EXPECT_EQ(status.error_file_id, "");
  EXPECT_EQ(status.failed, 1);
  EXPECT_THROW(tracker::llm::parse_batch(nlohmann::json::object()), std::invalid_argument);
  EXPECT_FALSE(
      tracker::llm::parse_batch(nlohmann::json{{"id", "b"}, {"status", "in_progress"}}).finished());
}

TEST(Batch, ReadsOutputAndErrorLines) {
  const std::string jsonl =
      R"({"id":"r1","custom_id":"job-1","response":{"status_code":200,"body":{"choices":[{"message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}},"error":null})"
      "\n"
      R"({"id":"r2","custom_id":"job-2","response":{"status_code":500,"body":{"error":{"message":"boom","type":"server_error"}}},"error":null})"
      "\n\nnot json\n"
      R"({"id":"r3","custom_id":"job-3","response":null,"error":{"code":"batch_expired","message":"expired"}})";
  int bad = 0;
  const auto results = tracker::llm::parse_batch_results(jsonl, bad);
  ASSERT_EQ(results.size(), 3U);
  EXPECT_EQ(bad, 1);
  EXPECT_EQ(results[0].custom_id, "job-1");
  EXPECT_EQ(results[0].result.outcome, tracker::llm::Outcome::ok);
  EXPECT_EQ(results[0].result.content, "ok");
  EXPECT_EQ(results[1].result.outcome, tracker::llm::Outcome::retryable);
  EXPECT_EQ(results[2].result.outcome, tracker::llm::Outcome::retryable);
  EXPECT_EQ(results[2].result.message, "expired");
}

// Found by fuzz/llm_response: a status_code or an error message of another type made
// json::value() throw out of parse_batch_results, whose bad lines are counted, not thrown.
TEST(Batch, ResultLinesWithFieldsOfAnotherTypeAreReadNotThrown) {
  const std::string jsonl = R"({"custom_id":"job-1","response":{"status_code":"200","body":{}}})"
                            "\n"
                            R"({"custom_id":"job-2","response":null,"error":{"message":5}})";
  int bad = 0;
  const auto results = tracker::llm::parse_batch_results(jsonl, bad);
  ASSERT_EQ(results.size(), 2U);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(results[0].result.status, 0U);
  EXPECT_EQ(results[1].result.message, "batch request failed");
}

// A request count of another type made json::value() throw a type error out of parse_batch (whose
// only documented exception is std::invalid_argument), and one like 1e300 or 3e9 was converted
// to int, which is undefined; an error message of another type threw too. Counts that are not
// integers in [0, INT_MAX] are read as 0, and such a message as "?".
TEST(Batch, CountsAndMessagesOfAnotherTypeOrRangeAreZeroOrUnknownNotThrownOrUndefined) {
  const auto status = tracker::llm::parse_batch(nlohmann::json::parse(R"({
    "id":"batch_1","status":"in_progress",
    "request_counts":{"total":1e300,"completed":"2","failed":3000000000},
    "errors":{"data":[{"message":7},{"message":"quota"}]}})"));
  EXPECT_EQ(status.total, 0);
  EXPECT_EQ(status.completed, 0);
  EXPECT_EQ(status.failed, 0);
  EXPECT_EQ(status.errors, "?; quota");

  const auto negative = tracker::llm::parse_batch(nlohmann::json::parse(
      R"({"id":"b","status":"failed","request_counts":{"total":-4,"completed":2.5,"failed":2}})"));
  EXPECT_EQ(negative.total, 0);
  EXPECT_EQ(negative.completed, 0);
  EXPECT_EQ(negative.failed, 2);
}

// An error answer of the Files or Batch API whose message is not a string made json::value()
// throw out of BatchApi::send; it reads as "HTTP <status>", as a body without one does.
TEST(Batch, ApiErrorMessagesOfAnotherTypeAreTheStatus) {
  using tracker::llm::api_error_message;
  EXPECT_EQ(api_error_message(400, R"({"error":{"message":"bad file","type":"invalid"}})"),
            "bad file");
  EXPECT_EQ(api_error_message(400, R"({"error":{"message":null}})"), "HTTP 400");
  EXPECT_EQ(api_error_message(500, R"({"error":{"message":7}})"), "HTTP 500");
  EXPECT_EQ(api_error_message(502, R"({"error":"bad gateway"})"), "HTTP 502");
  EXPECT_EQ(api_error_message(503, "<html>busy</html>"), "HTTP 503");
}
