// The gateway nodes that share a database, and the sessions of one that died.
//
// Contract: every node writes a heartbeat (once a second); a node whose
// heartbeat is older than the timeout is declared down by the first other
// node that notices (exactly once: the declaration and the ending of its
// live session rows are one transaction), and its sessions are recorded as
// ended unclean. A node that starts again ends its own rows that were left
// live (their processes died with it) and is up again.
//
// Claims: work that exactly one node must do (a spool file, the cluster's
// timers) is claimed by name. A claim stays with its node until released,
// or until that node is down (declared down, or its heartbeat older than
// the timeout): then the next node to ask takes it over. Asking again for a
// claim one already holds is a read, not a write.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"
#include "recorder/session_log.h"

namespace bastion::recorder {

// A node whose heartbeat is older than this is down: its sessions are ended
// and its claims may be taken over.
inline constexpr Micros kNodeTimeout = 10 * kMicrosPerSecond;

struct NodeRecord {
  std::string name;
  std::string listen;  // HOST:PORT it serves SSH on
  Micros started_at = 0;
  Micros heartbeat_at = 0;
  bool up = true;
};

// Who holds a claim after claim(): `mine`, or `holder` (another live node).
struct Claim {
  bool mine = false;
  std::string holder;
  bool taken_over = false;  // mine, from `holder`, a node that is down
};

// A node declared down and the session rows that ended with it.
struct NodeDown {
  NodeRecord node;
  std::vector<SessionRecord> sessions;
};

class NodeRegistry {
 public:
  NodeRegistry(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Registers `name` as up (at start), ending its own rows left live by a
  // previous run with `reason`; returns those rows.
  Result<std::vector<SessionRecord>> start(const std::string& name, const std::string& listen,
                                           const std::string& reason);
  Status heartbeat(const std::string& name);
  // Declares down every node (other than `self`) whose heartbeat is older
  // than `timeout`, ending its live session rows with a reason naming it.
  Result<std::vector<NodeDown>> declare_silent_nodes_down(const std::string& self, Micros timeout);
  Result<std::vector<NodeRecord>> list();

  // Claims `item` for `self` unless another node that is up (heartbeat
  // within `timeout`) holds it.
  Result<Claim> claim(const std::string& item, const std::string& self, Micros timeout);
  // Releases `item` if `self` holds it.
  Status release(const std::string& item, const std::string& self);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::recorder
