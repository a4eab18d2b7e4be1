#pragma once
// The size of a Kafka record, one limit end to end. The same numbers are in
// schemas/topics.json (each topic's max.message.bytes, applied by deploy/local/stack.sh and the
// deploy manifests) and in the broker's message.max.bytes; a unit test holds them together.
//
//   ingest's body limit (TRACKER_MAX_BODY_BYTES, at most kMaxEventBodyBytes)
//     + the envelope around it           <= kMaxRecordBytes      slack-events, summary-requests,
//                                                                 slack-outbox
//   a dead letter: the record + headers  <= kMaxDeadLetterBytes  the .dlq topics
//
// Producers accept records up to kMaxDeadLetterBytes (librdkafka's message.max.bytes) and batch
// at most kMaxBatchBytes, less than every topic's limit, so that a batch of small records is
// never refused for its total; consumers fetch up to kMaxDeadLetterBytes per partition.
#include <cstddef>

#include <tracker/kafka/producer.hpp>

namespace tracker::kafka {

inline constexpr std::size_t kMaxRecordBytes = 1'114'112;      // 1 MiB + 64 KiB
inline constexpr std::size_t kMaxDeadLetterBytes = 2'097'152;  // 2 MiB
inline constexpr std::size_t kMaxBatchBytes = 1'000'000;       // librdkafka's batch.size
// What Kafka's record batch adds to one record on its own: the batch header (61 bytes) and the
// record's varint-framed fields, with room to spare.
inline constexpr std::size_t kRecordFramingBytes = 512;
// ingest: the envelope's fields beside the raw body (schema, ids, time, retry) take a few
// hundred bytes; a body up to this size always fits in a record.
inline constexpr std::size_t kEnvelopeAllowanceBytes = 8 * 1024;
inline constexpr std::size_t kMaxEventBodyBytes = kMaxRecordBytes - kEnvelopeAllowanceBytes;

static_assert(kMaxBatchBytes < kMaxRecordBytes);
static_assert(kMaxRecordBytes + 64 * 1024 <= kMaxDeadLetterBytes,
              "a dead letter carries a whole record and its error headers");

// The bytes the broker counts for `message` as a record batch of its own.
inline std::size_t record_size(const OutgoingMessage& message) {
  std::size_t size = message.key.size() + message.value.size() + kRecordFramingBytes;
  for (const auto& header : message.headers) size += header.name.size() + header.value.size() + 8;
  return size;
}

}  // namespace tracker::kafka
