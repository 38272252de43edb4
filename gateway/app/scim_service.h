// ScimService: the SCIM 2.0 service provider (RFC 7644) at
// PUBLIC_URL/scim/v2, run by the monitor for each request the web process
// passes on (WebCall kScim): bearer-token authentication, a rate limit per
// provisioning client, the discovery resources and the Users resource.
//
// Users map onto the HR pipeline (gateway/app/hr_service.h) with its
// guarantees: creating a user is a joiner (the person is pending until a key
// is enrolled), a new department or work address a mover, "active": false or
// DELETE a leaver (their keys, grants and live sessions end). Each request's
// change, its HR event (recorded under batch "scim:CLIENT") and its audit
// records commit in one transaction; a request that fails changes nothing
// and is audited with its reason. A user whose userName names an existing
// person (not a service account) who has no SCIM identity is linked to that
// person: the first push of a provider to a running gateway.
//
// Employee id: enterprise employeeNumber when the user is created with one
// (the file feed's id for the same person), else the person's employee id
// if they have one, else "scim:" + the SCIM id. It stays that once set.
//
// Contract: not thread-safe; the monitor answers web calls one at a time.
// `on_change` runs after the commit, for every person whose access an event
// ended or narrowed (the supervisor ends or re-checks their sessions).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "gateway/app/hr_service.h"
#include "gateway/app/services.h"

namespace bastion::gateway {

struct ScimRequest {
  std::string method;                        // GET, POST, PUT, PATCH, DELETE
  std::string path;                          // after /scim/v2: "/Users", "/Users/ID", "/ServiceProviderConfig", ...
  std::map<std::string, std::string> query;  // filter, startIndex, count
  std::string token;                         // the bearer token ("" if none was sent)
  std::string if_match;                      // the If-Match header ("" if none)
  std::string body;
  std::string source;  // the client's IP address
};

struct ScimReply {
  int status = 200;
  nlohmann::json body;   // the SCIM resource, list or error (null: no body, as for 204)
  std::string location;  // 201: the new resource's URL
  std::string etag;      // the resource's version, W/"N"
  int retry_after = 0;   // 429: seconds
};

// A token bucket per key (a client's name, or "source:IP" for requests
// without a valid token): `rate` per second, bursts up to twice that.
class ScimRateLimiter {
 public:
  // Whether one more request of `key` may pass at `now`.
  bool allow(const std::string& key, int rate, Micros now);

 private:
  struct Bucket {
    double tokens = 0;
    Micros at = 0;
  };
  std::map<std::string, Bucket> buckets_;
};

class ScimService {
 public:
  // `base_url`: PUBLIC_URL + "/scim/v2" (resources' locations).
  ScimService(Services& s, ScimRateLimiter& limiter, HrAccessChange on_change, std::string base_url);
  ScimReply handle(const ScimRequest& r);

  // A new client's token: "bscim_" and 43 base64url characters (256 random bits).
  static std::string new_token();
  static std::string token_hash(const std::string& token);

  static constexpr int kMaxResults = 200;
  static constexpr size_t kMaxListBytes = 40 * 1024;  // a list answer's resources (the web channel's limit is 48 KiB)

 private:
  ScimReply route(const ScimRequest& r, const std::string& client);
  ScimReply list_users(const ScimRequest& r);
  ScimReply get_user(const std::string& id);
  ScimReply create_user(const ScimRequest& r, const std::string& client, nlohmann::json& audit);
  ScimReply change_user(const ScimRequest& r, const std::string& id, const std::string& client, nlohmann::json& audit);
  ScimReply delete_user(const ScimRequest& r, const std::string& id, const std::string& client, nlohmann::json& audit);
  // Runs `change` and the request's audit record ("scim.request", allow,
  // `why`) in one transaction; `done` on success, the SCIM error otherwise
  // (nothing changed, no access change runs).
  ScimReply commit(const ScimRequest& r, const std::string& client, nlohmann::json& audit, int status,
                   const std::string& why, const std::string& person, const std::function<Status()>& change,
                   ScimReply done);
  // 412 when the request's If-Match names another version.
  static std::optional<ScimReply> stale(const ScimRequest& r, int64_t version);
  nlohmann::json render(const policy::ScimUser& u) const;
  ScimReply list_groups(const ScimRequest& r);
  ScimReply get_group(const ScimRequest& r, const std::string& id);
  ScimReply create_group(const ScimRequest& r, const std::string& client, nlohmann::json& audit);
  ScimReply change_group(const ScimRequest& r, const std::string& id, const std::string& client, nlohmann::json& audit);
  ScimReply delete_group(const ScimRequest& r, const std::string& id, const std::string& client, nlohmann::json& audit);
  nlohmann::json render(const policy::ScimGroup& g, bool members) const;
  // The [scim.groups] groups user `user_id` is in (sorted), and the roles they give.
  Result<std::vector<std::string>> mapped_groups(const std::string& user_id);
  std::vector<std::string> roles_of(const std::vector<std::string>& groups) const;
  // mapped_groups for each of `user_ids` (before a group change).
  Result<std::map<std::string, std::vector<std::string>>> mapped_groups_of(const std::vector<std::string>& user_ids);
  // After a group change, inside its transaction: a mover for each of
  // `before`'s users whose mapped groups changed, a leaver for one who is in
  // none any more. `tag` makes the events' ids unique ("GROUPID:VERSION").
  Status group_events(const std::map<std::string, std::vector<std::string>>& before, const std::string& client,
                      const std::string& tag, const std::string& why, nlohmann::json& audit);
  // One HR event of SCIM user `u` (the breaker for leavers), collecting access changes.
  Status hr_event(const policy::ScimUser& u, policy::HrType type, const std::string& event_id,
                  const std::string& client, const std::string& why, nlohmann::json& audit);
  // Applies the HR events a change from `before` to `after` makes for `u`,
  // inside the caller's transaction; an error when HR rejects one.
  Status hr_events(const policy::ScimUser& u, const nlohmann::json* before, const std::string& client,
                   const std::string& why, nlohmann::json& audit);

  Services& s_;
  ScimRateLimiter& limiter_;
  HrAccessChange on_change_;
  std::string base_;
  // The access changes of the request in progress, run after its commit.
  std::vector<std::tuple<std::string, std::string, bool>> changes_;
  bool committed_ = false;  // the request in progress changed something (its record is written)
};

}  // namespace bastion::gateway
