#pragma once
// Workspace bot tokens at rest: AES-256-GCM (OpenSSL's EVP interface), a random 96-bit nonce
// for every seal, and the workspace's team_id as associated data, so that a sealed token copied
// into another workspace's row does not open.
//
// Keys come from TRACKER_TOKEN_ENCRYPTION_KEY: "<id>:<base64 of 32 bytes>", or several separated
// by commas. The first key seals; every key opens what it sealed (the key id is stored beside the
// ciphertext). Rotation: put a new key first and keep the old ones; the app re-seals every row
// with the first key at start (WorkspaceStore::reseal), after which the old keys may go.
//
// The same keys give other secrets by derivation (HKDF-SHA256 with a purpose string), such as
// the key that signs the OAuth state, so that one setting holds all key material.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <tracker/config/secret.hpp>

namespace tracker::slack {

struct SealedToken {
  std::string key_id;
  std::string bytes;  // nonce (12) || ciphertext || tag (16)
};

struct OpenFailure {
  // unknown_key: no key with this id (a key dropped too early); malformed: too short to be a
  // sealed token; tampered: the tag does not match (changed bytes, another workspace's row, or
  // a different key under the same id).
  enum class Kind { unknown_key, malformed, tampered } kind;
  std::string key_id;
};

std::string_view to_string(OpenFailure::Kind kind);

class OpenException : public std::runtime_error {
 public:
  explicit OpenException(const OpenFailure& failure);
};

[[noreturn]] void throw_exception_from_error(const OpenFailure& failure,
                                             const boost::source_location& location);

struct Key {
  std::string id;
  config::Secret material;  // 32 bytes
};

class TokenCipher {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  static constexpr std::size_t kNonceBytes = 12;
  static constexpr std::size_t kTagBytes = 16;

  // Parses the setting; throws std::invalid_argument saying what is wrong (never a key's bytes):
  // an empty list, an entry without "id:", an id used twice, a key that is not base64 or not
  // 32 bytes long.
  static TokenCipher parse(std::string_view keys);
  explicit TokenCipher(std::vector<Key> keys);

  [[nodiscard]] SealedToken seal(std::string_view plaintext, std::string_view associated) const;
  [[nodiscard]] boost::system::result<config::Secret, OpenFailure> open(
      const SealedToken& sealed, std::string_view associated) const;

  [[nodiscard]] const std::string& current_key_id() const noexcept { return keys_.front().id; }
  [[nodiscard]] bool knows(std::string_view key_id) const noexcept;
  // Every key's derivative for `purpose`, the current key's first (32 bytes each).
  [[nodiscard]] std::vector<config::Secret> derive(std::string_view purpose) const;

 private:
  [[nodiscard]] const Key* find(std::string_view key_id) const noexcept;
  std::vector<Key> keys_;
};

// A fresh key for the setting: "<id>:<base64 of 32 random bytes>".
std::string generate_key(std::string_view id);

// Standard base64 (RFC 4648 section 4, with padding); decode() returns false on anything else.
std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& out);
// URL-safe base64 without padding (RFC 4648 section 5), for tokens in URLs.
std::string base64url_encode(std::string_view bytes);
bool base64url_decode(std::string_view text, std::string& out);

// `count` random bytes from OpenSSL's CSPRNG; throws std::runtime_error if it fails.
std::string random_bytes(std::size_t count);

}  // namespace tracker::slack
