// SCIM 2.0 (RFC 7643, RFC 7644) Users as bastion keeps them: what an
// identity provider sends, read as hostile input and in the dialects the big
// providers document; filters; PATCH; and the JSON bastion answers. Pure
// functions over JSON values; no I/O.
//
// A user is kept as a canonical JSON object: only the attributes bastion
// declares in its schemas (user_schema_json), under their canonical names,
// with checked types. What a provider sends is matched case-insensitively
// (RFC 7643 §2.1), unknown attributes are ignored, and booleans sent as
// strings ("True", "false": Microsoft Entra ID) are read as booleans.
//
// Limits (hostile input): a filter of at most kMaxFilterBytes and
// kMaxFilterDepth levels, a PATCH of at most kMaxPatchOps operations, at most
// kMaxEmails e-mail addresses, strings of at most kMaxStringBytes.
#pragma once

#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bastion::policy::scim {

inline constexpr const char* kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr const char* kEnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
inline constexpr const char* kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";
inline constexpr const char* kListSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
inline constexpr const char* kPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr const char* kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";

inline constexpr size_t kMaxFilterBytes = 2048;
inline constexpr int kMaxFilterDepth = 16;
inline constexpr size_t kMaxPatchOps = 100;
inline constexpr size_t kMaxEmails = 20;
inline constexpr size_t kMaxStringBytes = 1024;
inline constexpr size_t kMaxMembers = 20000;  // of one group

// A SCIM error (RFC 7644 §3.12): the HTTP status, the scimType (empty for
// none) and a one-line detail for the provider's administrator.
struct Error {
  int status = 400;
  std::string type;
  std::string detail;
};
nlohmann::json error_json(const Error& e);

// A value or a SCIM error.
template <class T>
class Outcome {
 public:
  Outcome(T v) : v_(std::move(v)) {}      // NOLINT(google-explicit-constructor): like Result<T>
  Outcome(Error e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& operator*() { return std::get<T>(v_); }
  const T& operator*() const { return std::get<T>(v_); }
  T* operator->() { return &std::get<T>(v_); }
  [[nodiscard]] const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

// The canonical user for a resource a provider sent (POST, PUT). Required:
// userName. `active` is absent when the provider did not send it.
Outcome<nlohmann::json> read_user(const nlohmann::json& in);

// Groups: displayName (required), externalId, members [{"value": a User's
// id, "display"}]; read and patched as users are. Adding a member twice
// keeps one; "remove" with path members[value eq "ID"] (Okta) or with path
// "members" and a list of values (Microsoft Entra ID) removes those.
Outcome<nlohmann::json> read_group(const nlohmann::json& in);
Outcome<nlohmann::json> apply_group_patch(const nlohmann::json& group, const nlohmann::json& patch);
// The members' ids, in order.
std::vector<std::string> member_ids(const nlohmann::json& group);
std::string display_name(const nlohmann::json& group);

// PUT: the attributes `replacement` (a canonical user) gives replace the
// current ones; the ones it omits are kept (RFC 7644 §3.5.1 lets a service
// provider keep them). Providers send PUTs that omit what they do not manage
// (OneLogin, JumpCloud): a PUT without "active" neither deactivates nor
// reactivates anyone. An attribute given as an empty list is cleared.
nlohmann::json merge_put(const nlohmann::json& current, const nlohmann::json& replacement);

// Applies a PatchOp message (RFC 7644 §3.5.2) to a canonical user. Accepts
// "op" in any case ("Replace": Microsoft Entra ID), operations without a
// path whose value is an object of attributes (Okta), enterprise attributes
// named by their full URN inside such an object, value filters in paths
// (emails[type eq "work"].value), and booleans as strings. The result is
// checked like a POST.
Outcome<nlohmann::json> apply_patch(const nlohmann::json& user, const nlohmann::json& patch);

// The person name a userName gives: lower case, the part before '@' of an
// e-mail address; an error if that is not a valid bastion name.
Outcome<std::string> person_name_for(const std::string& user_name);

// Typed helpers over a canonical user.
std::string user_name(const nlohmann::json& user);
std::string external_id(const nlohmann::json& user);
std::optional<bool> active(const nlohmann::json& user);  // absent: not sent
// The work address, else the primary one, else the first; "" if none.
std::string work_email(const nlohmann::json& user);
std::string employee_number(const nlohmann::json& user);
std::string department(const nlohmann::json& user);

// A parsed filter (RFC 7644 §3.4.2.2).
struct FilterNode;
using Filter = std::shared_ptr<const FilterNode>;
Outcome<Filter> parse_filter(std::string_view text);
// Whether `resource` (a rendered resource: canonical attributes plus id and
// meta) matches `f`.
bool matches(const Filter& f, const nlohmann::json& resource);
// What an index can answer: the filter is exactly `userName eq "x"`,
// `externalId eq "x"`, or `emails[type eq "work"].value eq "x"` (also
// `emails.value eq "x"`). `value` is as given.
struct IndexedLookup {
  enum class Key { kUserName, kExternalId, kEmail };
  Key key = Key::kUserName;
  std::string value;
};
std::optional<IndexedLookup> indexed_lookup(const Filter& f);
// The group name a filter `displayName eq "x"` asks for.
std::optional<std::string> display_name_lookup(const Filter& f);

// The discovery resources (RFC 7644 §4), for a service provider at `base`
// (e.g. "https://gw.example.com/scim/v2").
nlohmann::json service_provider_config_json(const std::string& base, int max_results);
nlohmann::json resource_types_json(const std::string& base);
nlohmann::json schemas_json(const std::string& base);

}  // namespace bastion::policy::scim
