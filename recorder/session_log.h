// The session log: one row per proxied SSH connection (a gateway session).
//
// Contract: start() before any byte reaches the target; end() exactly once
// (a second end() is ignored). end_orphans() closes rows whose process died
// without ending them, so a crash never leaves a session "live" forever.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::recorder {

struct SessionRecord {
  std::string id;
  std::string user;
  std::string target;
  std::string login;
  std::string source;
  int pid = 0;
  Micros started_at = 0;
  std::optional<Micros> ended_at;
  int64_t bytes_in = 0;   // client -> target
  int64_t bytes_out = 0;  // target -> client
  std::optional<int> exit_status;
  std::string end_reason;
  std::string grant_id;  // the elevation grant the session runs under, if any
  std::string node;      // the gateway node it runs on ([gateway] node_name)
};

struct SessionFilter {
  bool live_only = false;
  std::string user, target;
  std::vector<std::string> targets;  // any of these (when not empty), as well as `target`
  std::string grant_id;
  std::optional<Micros> since;
  std::optional<Micros> until;  // started before
  // Sessions with a stored command (RecordingCatalog, plaintext terminal
  // recordings) that contains this text, in any case.
  std::string command;
  int limit = 1000;
};

class SessionLog {
 public:
  SessionLog(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  Status start(const SessionRecord& s);
  Status end(const std::string& id, int64_t bytes_in, int64_t bytes_out, std::optional<int> exit_status,
             const std::string& reason);
  Result<std::vector<SessionRecord>> list(bool live_only, int limit = 1000);
  Result<std::vector<SessionRecord>> list(const SessionFilter& f);
  // Whether list() finds SessionFilter::command through the trigram index
  // (three characters or more); shorter text is looked for in commands one
  // by one.
  static bool command_is_indexed(const std::string& text);
  Result<std::optional<SessionRecord>> find(const std::string& id);
  // When each of `users` last started a session (someone with none is
  // absent): the console's "last login", in a few index lookups.
  Result<std::map<std::string, Micros>> last_started(const std::vector<std::string>& users);
  // The targets sessions started on since `since`, each with the login of
  // its latest session there, by target name.
  Result<std::vector<std::pair<std::string, std::string>>> recent_targets(Micros since);
  // Ends every live row of process `pid` on gateway `node` (pids of other
  // nodes are theirs); returns the ids it ended.
  Result<std::vector<std::string>> end_orphans(const std::string& node, int pid, const std::string& reason);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::recorder
