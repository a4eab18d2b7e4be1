#include <tracker/notifier/tokens.hpp>

namespace tracker::notifier {

std::string_view to_string(WorkspaceToken::Kind kind) {
  switch (kind) {
    case WorkspaceToken::Kind::token: return "token";
    case WorkspaceToken::Kind::uninstalled: return "workspace_uninstalled";
    case WorkspaceToken::Kind::not_installed: return "workspace_not_installed";
  }
  return "unknown";
}

boost::asio::awaitable<pg::Result<WorkspaceToken>> StaticTokens::token_for(std::string) {
  co_return WorkspaceToken{WorkspaceToken::Kind::token, token_};
}

boost::asio::awaitable<pg::Result<WorkspaceToken>> InstalledTokens::token_for(std::string team_id) {
  auto found = co_await store_.token_for(std::move(team_id));
  if (!found) co_return found.error();
  using State = workspaces::TokenLookup::State;
  switch (found->state) {
    case State::installed:
      co_return WorkspaceToken{WorkspaceToken::Kind::token, std::move(found->token)};
    case State::revoked: co_return WorkspaceToken{WorkspaceToken::Kind::uninstalled, {}};
    case State::unknown:
      if (!fallback_.empty()) co_return WorkspaceToken{WorkspaceToken::Kind::token, fallback_};
      co_return WorkspaceToken{WorkspaceToken::Kind::not_installed, {}};
    case State::unreadable: break;
  }
  // The deployment's fault (a key dropped before its tokens were re-sealed): waited out.
  co_return pg::Error{.kind = pg::Error::Kind::usage, .message = found->detail};
}

Tokens& make_tokens(service::Host& host, const config::Secret& bot_token,
                    const config::Secret& token_keys) {
  if (token_keys.empty()) return host.make<StaticTokens>(bot_token);
  auto& cipher = host.make<slack::TokenCipher>(slack::TokenCipher::parse(token_keys.reveal()));
  auto& store = host.make<workspaces::WorkspaceStore>(host.pool(), cipher);
  return host.make<InstalledTokens>(store, bot_token);
}

}  // namespace tracker::notifier
