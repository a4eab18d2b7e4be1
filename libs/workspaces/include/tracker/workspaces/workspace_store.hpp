#pragma once
// The workspaces that installed the app and their bot tokens, sealed (slack::TokenCipher, the
// team_id as associated data), in slack_workspaces (migration 0007); and the OAuth states
// already used, so that each is good once.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/pg/error.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/slack/oauth.hpp>
#include <tracker/slack/token_cipher.hpp>

namespace tracker::workspaces {

namespace asio = boost::asio;

struct Workspace {
  std::string team_id;
  std::string team_name;
  std::string bot_user_id;
  bool installed = false;  // a token is held (not uninstalled or revoked)
};

// What token_for() found.
struct TokenLookup {
  enum class State {
    installed,   // `token` holds the workspace's bot token
    revoked,     // the app was uninstalled or its token revoked
    unknown,     // never installed
    unreadable,  // sealed under a key no longer configured, or changed in the table
  } state = State::unknown;
  config::Secret token;
  std::string detail;  // for unreadable: why (never the token)
};

// What the OAuth redirect needs: an interface, so that the install flow has unit tests.
class Installations {
 public:
  virtual ~Installations() = default;
  // Records the OAuth state's nonce as used. True: first use; false: used before (a replay).
  virtual asio::awaitable<pg::Result<bool>> use_state(
      std::string nonce, std::chrono::system_clock::time_point expires) = 0;
  // Keeps an installation: a new workspace, or a reinstall (which ends a revocation and its
  // scheduled deletion). The token is sealed with the current key.
  virtual asio::awaitable<pg::Result<void>> save(const slack::Installation& installation) = 0;
};

class WorkspaceStore final : public Installations {
 public:
  WorkspaceStore(pg::Pool& pool, const slack::TokenCipher& cipher) : pool_(pool), cipher_(cipher) {}

  asio::awaitable<pg::Result<bool>> use_state(
      std::string nonce, std::chrono::system_clock::time_point expires) override;
  asio::awaitable<pg::Result<void>> save(const slack::Installation& installation) override;

  asio::awaitable<pg::Result<TokenLookup>> token_for(std::string team_id);
  asio::awaitable<pg::Result<std::optional<Workspace>>> find(std::string team_id);
  // The token to call Slack with for `team_id`: its own when installed, `fallback` (the
  // one-workspace SLACK_BOT_TOKEN, maybe empty) when it never installed the app; empty when it
  // uninstalled the app, its token does not open, or the database did not answer.
  asio::awaitable<config::Secret> token_or(std::string team_id, const config::Secret& fallback);

  // Seals again, with the current key, every token sealed under another: returns how many. A
  // token that does not open is left as it is (and counted in `unreadable`).
  struct Resealed {
    int resealed = 0;
    int unreadable = 0;
  };
  asio::awaitable<pg::Result<Resealed>> reseal();

  // An uninstall or a revoked bot token (`reason`: app_uninstalled, tokens_revoked) that
  // happened at `at`: the token is removed now and the workspace's data is to be deleted
  // `retention` later. An event older than the workspace's latest install changes nothing (a
  // replay after a reinstall); returns whether the workspace was revoked by this call.
  asio::awaitable<pg::Result<bool>> revoke(std::string team_id, std::string reason,
                                           std::chrono::system_clock::time_point at,
                                           std::chrono::seconds retention);

  // Deletes everything kept about workspaces whose retention after a revocation has passed:
  // study logs, people, summary jobs and summaries, delivery records, the workspace itself.
  // Returns the team ids deleted.
  asio::awaitable<pg::Result<std::vector<std::string>>> purge_expired();

  // Forgets used states that expired more than `after` ago; returns how many.
  asio::awaitable<pg::Result<std::int64_t>> prune_states(std::chrono::seconds after);

 private:
  pg::Pool& pool_;
  const slack::TokenCipher& cipher_;
};

}  // namespace tracker::workspaces
