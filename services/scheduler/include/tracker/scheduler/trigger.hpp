#pragma once
// POST /trigger on the scheduler's ops port: who may ask for summaries now, and when. The
// route answers, before the scheduler sees the request:
//   405 for another method (Allow: POST);
//   403 trigger_disabled while TRACKER_ADMIN_TOKEN is unset;
//   401 without "Authorization: Bearer <TRACKER_ADMIN_TOKEN>" (compared in constant time);
//   503 starting until the database is migrated.
#include <functional>

#include <boost/asio/awaitable.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/http/server.hpp>
#include <tracker/metrics/ops_endpoint.hpp>

namespace tracker::scheduler {

using TriggerHandler =
    std::function<boost::asio::awaitable<http::Response>(const http::Request& request)>;

// The route for OpsEndpoint::add_route: guards `handle` (Scheduler::handle_trigger) as above.
metrics::RouteHandler trigger_route(config::Secret admin_token,
                                    std::function<bool()> database_ready, TriggerHandler handle);

// The request carries "Authorization: Bearer <token>".
bool bearer_matches(const http::Request& request, const config::Secret& token);

}  // namespace tracker::scheduler
