#pragma once
// Slack's request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
//   X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + raw body)>
// The key is set once; each signature works on a copy of the keyed context, so one signer can
// be shared by connections on several threads (the base context is only read).
#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace tracker::loadtest {

class SlackSigner {
 public:
  explicit SlackSigner(std::string_view secret);

  SlackSigner(const SlackSigner&) = delete;
  SlackSigner& operator=(const SlackSigner&) = delete;

  std::string sign(std::string_view timestamp, std::string_view body) const;

 private:
  struct MacFree {
    void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
  };
  struct MacCtxFree {
    void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MAC, MacFree> mac_;
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> keyed_;
};

// Signs Slack's published example and compares with Slack's published signature. Returns an
// empty string when it matches, otherwise what went wrong.
std::string signer_self_test();

}  // namespace tracker::loadtest
