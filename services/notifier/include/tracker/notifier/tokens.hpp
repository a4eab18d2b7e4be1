#pragma once
// Which bot token posts to a workspace. Two modes:
//   - one workspace (SLACK_BOT_TOKEN): that token for every post (StaticTokens);
//   - installed workspaces (TRACKER_TOKEN_ENCRYPTION_KEY): each workspace's own token, as its
//     install left it in slack_workspaces, looked up for every delivery so that an uninstall
//     stops the posts at once (InstalledTokens). SLACK_BOT_TOKEN, when set too, posts to
//     workspaces that never installed the app.
// A delivery to a workspace that uninstalled the app, or never installed it, goes to the
// dead-letter topic (workspace_uninstalled, workspace_not_installed). A token that does not open
// (its key is no longer configured) is the deployment's fault, not the message's: it fails like
// a database that refuses, and the notifier waits.
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/pg/error.hpp>
#include <tracker/service/host.hpp>
#include <tracker/workspaces/workspace_store.hpp>

namespace tracker::notifier {

struct WorkspaceToken {
  enum class Kind { token, uninstalled, not_installed } kind = Kind::token;
  config::Secret token;
};

std::string_view to_string(WorkspaceToken::Kind kind);

class Tokens {
 public:
  virtual ~Tokens() = default;
  virtual boost::asio::awaitable<pg::Result<WorkspaceToken>> token_for(std::string team_id) = 0;
};

class StaticTokens final : public Tokens {
 public:
  explicit StaticTokens(config::Secret token) : token_(std::move(token)) {}
  boost::asio::awaitable<pg::Result<WorkspaceToken>> token_for(std::string team_id) override;

 private:
  config::Secret token_;
};

class InstalledTokens final : public Tokens {
 public:
  // `fallback`: SLACK_BOT_TOKEN for workspaces that never installed the app (empty: none).
  InstalledTokens(workspaces::WorkspaceStore& store, config::Secret fallback)
      : store_(store), fallback_(std::move(fallback)) {}
  boost::asio::awaitable<pg::Result<WorkspaceToken>> token_for(std::string team_id) override;

 private:
  workspaces::WorkspaceStore& store_;
  config::Secret fallback_;
};

// The mode the settings choose, made on the host: InstalledTokens when `token_keys`
// (TRACKER_TOKEN_ENCRYPTION_KEY) is set, with `bot_token` as its fallback; else StaticTokens.
Tokens& make_tokens(service::Host& host, const config::Secret& bot_token,
                    const config::Secret& token_keys);

}  // namespace tracker::notifier
