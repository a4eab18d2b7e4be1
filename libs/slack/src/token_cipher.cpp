#include <tracker/slack/token_cipher.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

namespace tracker::slack {

namespace {

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}
unsigned char* bytes_of(std::string& text) {
  return reinterpret_cast<unsigned char*>(text.data());
}

struct CipherContextDelete {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDelete>;

CipherContext new_context() {
  CipherContext context(EVP_CIPHER_CTX_new());
  if (!context) throw std::runtime_error("EVP_CIPHER_CTX_new failed");
  return context;
}

void check(int ok, const char* what) {
  if (ok != 1) throw std::runtime_error(std::string(what) + " failed");
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= 32 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

}  // namespace

std::string_view to_string(OpenFailure::Kind kind) {
  switch (kind) {
    case OpenFailure::Kind::unknown_key: return "unknown_key";
    case OpenFailure::Kind::malformed: return "malformed";
    case OpenFailure::Kind::tampered: return "tampered";
  }
  return "unknown";
}

OpenException::OpenException(const OpenFailure& failure)
    : std::runtime_error("sealed token does not open (" + std::string(to_string(failure.kind)) +
                         ", key \"" + failure.key_id + "\")") {}

void throw_exception_from_error(const OpenFailure& failure, const boost::source_location&) {
  throw OpenException(failure);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written =
      EVP_EncodeBlock(bytes_of(out), bytes_of(bytes), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  const auto is_alphabet = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  };
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=') {
      if (i + 2 < text.size()) return false;  // '=' only in the last two places
      ++padding;
    } else if (padding > 0 || !is_alphabet(text[i])) {
      return false;
    }
  }
  out.assign(text.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(bytes_of(out), bytes_of(text), static_cast<int>(text.size()));
  if (written < 0) return false;
  out.resize(static_cast<std::size_t>(written) - padding);
  return true;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  if (text.find_first_of("+/=") != std::string_view::npos) return false;
  if (text.size() % 4 == 1) return false;
  std::string standard(text);
  std::replace(standard.begin(), standard.end(), '-', '+');
  std::replace(standard.begin(), standard.end(), '_', '/');
  standard.append((4 - standard.size() % 4) % 4, '=');
  return base64_decode(standard, out);
}

std::string random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (count > 0 && RAND_bytes(bytes_of(out), static_cast<int>(count)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return out;
}

std::string generate_key(std::string_view id) {
  return std::string(id) + ":" + base64_encode(random_bytes(TokenCipher::kKeyBytes));
}

TokenCipher TokenCipher::parse(std::string_view keys) {
  std::vector<Key> parsed;
  std::size_t position = 0;
  while (position <= keys.size()) {
    const auto comma = keys.find(',', position);
    std::string_view entry = keys.substr(
        position, comma == std::string_view::npos ? std::string_view::npos : comma - position);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    const std::string number = "key " + std::to_string(parsed.size() + 1);
    if (entry.empty()) throw std::invalid_argument(number + " is empty");
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos) {
      throw std::invalid_argument(number + " is not \"<id>:<base64 of 32 bytes>\"");
    }
    const std::string id(entry.substr(0, colon));
    if (!valid_id(id)) {
      throw std::invalid_argument(number +
                                  "'s id must be 1 to 32 letters, digits, '-', '_' or '.'");
    }
    for (const auto& key : parsed) {
      if (key.id == id) throw std::invalid_argument("key id \"" + id + "\" is used twice");
    }
    std::string material;
    if (!base64_decode(entry.substr(colon + 1), material)) {
      throw std::invalid_argument("key \"" + id + "\" is not base64");
    }
    if (material.size() != kKeyBytes) {
      throw std::invalid_argument("key \"" + id + "\" is " + std::to_string(material.size()) +
                                  " bytes; AES-256 needs 32");
    }
    parsed.push_back({id, config::Secret(std::move(material))});
    if (comma == std::string_view::npos) break;
    position = comma + 1;
  }
  return TokenCipher(std::move(parsed));
}

TokenCipher::TokenCipher(std::vector<Key> keys) : keys_(std::move(keys)) {
  if (keys_.empty()) throw std::invalid_argument("no key");
  for (const auto& key : keys_) {
    if (key.material.reveal().size() != kKeyBytes) {
      throw std::invalid_argument("key \"" + key.id + "\" is not 32 bytes");
    }
  }
}

const Key* TokenCipher::find(std::string_view key_id) const noexcept {
  for (const auto& key : keys_) {
    if (key.id == key_id) return &key;
  }
  return nullptr;
}

bool TokenCipher::knows(std::string_view key_id) const noexcept {
  return find(key_id) != nullptr;
}

SealedToken TokenCipher::seal(std::string_view plaintext, std::string_view associated) const {
  const Key& key = keys_.front();
  SealedToken sealed{key.id, random_bytes(kNonceBytes)};
  sealed.bytes.resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto context = new_context();
  check(EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr),
        "EVP_EncryptInit_ex");
  check(EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr),
        "EVP_CTRL_GCM_SET_IVLEN");
  check(EVP_EncryptInit_ex(context.get(), nullptr, nullptr, bytes_of(key.material.reveal()),
                           bytes_of(sealed.bytes)),
        "EVP_EncryptInit_ex");
  int length = 0;
  check(EVP_EncryptUpdate(context.get(), nullptr, &length, bytes_of(associated),
                          static_cast<int>(associated.size())),
        "EVP_EncryptUpdate (associated data)");
  unsigned char* out = bytes_of(sealed.bytes) + kNonceBytes;
  check(EVP_EncryptUpdate(context.get(), out, &length, bytes_of(plaintext),
                          static_cast<int>(plaintext.size())),
        "EVP_EncryptUpdate");
  int final_length = 0;
  check(EVP_EncryptFinal_ex(context.get(), out + length, &final_length), "EVP_EncryptFinal_ex");
  check(EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                            out + length + final_length),
        "EVP_CTRL_GCM_GET_TAG");
  return sealed;
}

boost::system::result<config::Secret, OpenFailure> TokenCipher::open(
    const SealedToken& sealed, std::string_view associated) const {
  const Key* key = find(sealed.key_id);
  if (key == nullptr) return OpenFailure{OpenFailure::Kind::unknown_key, sealed.key_id};
  if (sealed.bytes.size() < kNonceBytes + kTagBytes) {
    return OpenFailure{OpenFailure::Kind::malformed, sealed.key_id};
  }
  const std::size_t text_length = sealed.bytes.size() - kNonceBytes - kTagBytes;
  const std::string_view nonce(sealed.bytes.data(), kNonceBytes);
  const std::string_view ciphertext(sealed.bytes.data() + kNonceBytes, text_length);
  std::string tag = sealed.bytes.substr(kNonceBytes + text_length);
  std::string plaintext(text_length, '\0');
  auto context = new_context();
  check(EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr),
        "EVP_DecryptInit_ex");
  check(EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr),
        "EVP_CTRL_GCM_SET_IVLEN");
  check(EVP_DecryptInit_ex(context.get(), nullptr, nullptr, bytes_of(key->material.reveal()),
                           bytes_of(nonce)),
        "EVP_DecryptInit_ex");
  int length = 0;
  check(EVP_DecryptUpdate(context.get(), nullptr, &length, bytes_of(associated),
                          static_cast<int>(associated.size())),
        "EVP_DecryptUpdate (associated data)");
  check(EVP_DecryptUpdate(context.get(), bytes_of(plaintext), &length, bytes_of(ciphertext),
                          static_cast<int>(ciphertext.size())),
        "EVP_DecryptUpdate");
  check(EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()),
        "EVP_CTRL_GCM_SET_TAG");
  int final_length = 0;
  if (EVP_DecryptFinal_ex(context.get(), bytes_of(plaintext) + length, &final_length) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenFailure{OpenFailure::Kind::tampered, sealed.key_id};
  }
  return config::Secret(std::move(plaintext));
}

std::vector<config::Secret> TokenCipher::derive(std::string_view purpose) const {
  std::vector<config::Secret> derived;
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) throw std::runtime_error("HKDF is not available");
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf_owner(kdf, &EVP_KDF_free);
  for (const auto& key : keys_) {
    std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> context(EVP_KDF_CTX_new(kdf),
                                                                      &EVP_KDF_CTX_free);
    if (!context) throw std::runtime_error("EVP_KDF_CTX_new failed");
    std::string digest = "SHA256";
    std::string material = key.material.reveal();
    std::string info(purpose);
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, material.data(), material.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
        OSSL_PARAM_construct_end()};
    std::string out(kKeyBytes, '\0');
    const int ok = EVP_KDF_derive(context.get(), bytes_of(out), out.size(), params);
    OPENSSL_cleanse(material.data(), material.size());
    check(ok, "HKDF");
    derived.emplace_back(std::move(out));
  }
  return derived;
}

}  // namespace tracker::slack
