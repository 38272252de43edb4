#include "recorder/node_registry.h"

#include "common/database_sql.h"

namespace bastion::recorder {
namespace {

// The live rows of `node`, then ends them with `reason` (inside the caller's transaction).
std::vector<SessionRecord> end_live_rows(SessionLog& log, const std::string& node, const std::string& reason) {
  SessionFilter f;
  f.live_only = true;
  f.limit = 100000;
  auto live = log.list(f);
  if (!live) throw DatabaseError(live.error().message, live.error().code == ErrorCode::kBusy);
  std::vector<SessionRecord> ended;
  for (auto& s : *live) {
    if (s.node != node) continue;
    if (auto st = log.end(s.id, s.bytes_in, s.bytes_out, std::nullopt, reason); !st) {
      throw DatabaseError(st.message(), st.code() == ErrorCode::kBusy);
    }
    ended.push_back(std::move(s));
  }
  return ended;
}

}  // namespace

Result<std::vector<SessionRecord>> NodeRegistry::start(const std::string& name, const std::string& listen,
                                                       const std::string& reason) {
  std::vector<SessionRecord> ended;
  auto st = with_transaction(db_, [&]() -> Status {
    SessionLog log(db_, clock_);
    ended = end_live_rows(log, name, reason);
    Micros now = clock_.now();
    Statement up(db_,
                 "INSERT INTO nodes(name, listen, started_at, heartbeat_at, up) VALUES (?,?,?,?,1) "
                 "ON CONFLICT(name) DO UPDATE SET listen = excluded.listen, started_at = excluded.started_at, "
                 "heartbeat_at = excluded.heartbeat_at, up = 1");
    up.bind(1, name);
    up.bind(2, listen);
    up.bind(3, static_cast<int64_t>(now));
    up.bind(4, static_cast<int64_t>(now));
    up.run();
    return {};
  });
  if (!st) return st.error();
  return ended;
}

Status NodeRegistry::heartbeat(const std::string& name) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "UPDATE nodes SET heartbeat_at = ?, up = 1 WHERE name = ?");
    q.bind(1, static_cast<int64_t>(clock_.now()));
    q.bind(2, name);
    if (q.run() == 0) return make_error("node " + name + " is not registered");
    return {};
  });
}

Result<std::vector<NodeDown>> NodeRegistry::declare_silent_nodes_down(const std::string& self, Micros timeout) {
  std::vector<NodeDown> out;
  auto st = with_transaction(db_, [&]() -> Status {
    Micros now = clock_.now();
    Statement q(db_,
                "SELECT name, listen, started_at, heartbeat_at FROM nodes WHERE up = 1 AND name <> ? AND "
                "heartbeat_at < ? ORDER BY name");
    q.bind(1, self);
    q.bind(2, static_cast<int64_t>(now - timeout));
    while (q.step()) {
      NodeDown d;
      d.node = {q.column(0).text(), q.column(1).text(), q.column(2).int64(), q.column(3).int64(), false};
      out.push_back(std::move(d));
    }
    SessionLog log(db_, clock_);
    for (auto& d : out) {
      Statement down(db_, "UPDATE nodes SET up = 0 WHERE name = ?");
      down.bind(1, d.node.name);
      down.run();
      d.sessions = end_live_rows(log, d.node.name,
                                 "ended unclean: gateway node " + d.node.name + " stopped (no heartbeat since " +
                                     format_utc(d.node.heartbeat_at) + ")");
    }
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::vector<NodeRecord>> NodeRegistry::list() {
  return guarded([&]() -> Result<std::vector<NodeRecord>> {
    Statement q(db_, "SELECT name, listen, started_at, heartbeat_at, up FROM nodes ORDER BY name");
    std::vector<NodeRecord> out;
    while (q.step()) {
      out.push_back(
          {q.column(0).text(), q.column(1).text(), q.column(2).int64(), q.column(3).int64(), q.column(4).int64() != 0});
    }
    return out;
  });
}

Result<Claim> NodeRegistry::claim(const std::string& item, const std::string& self, Micros timeout) {
  // Whether a node other than `self` holds it and is alive; empty holder: nobody.
  auto holder_of = [&](bool& alive) {
    Statement q(db_,
                "SELECT c.node, COALESCE(n.up, 0), COALESCE(n.heartbeat_at, 0) FROM claims c "
                "LEFT JOIN nodes n ON n.name = c.node WHERE c.item = ?");
    q.bind(1, item);
    if (!q.step()) return std::string();
    alive = q.column(1).int64() != 0 && q.column(2).int64() >= clock_.now() - timeout;
    return q.column(0).text();
  };
  Claim out;
  auto read = guarded([&]() -> Status {
    bool alive = false;
    std::string holder = holder_of(alive);
    out.mine = holder == self;
    if (!holder.empty() && !out.mine && alive) out.holder = holder;
    return {};
  });
  if (!read) return read.error();
  if (out.mine || !out.holder.empty()) return out;
  // Nobody, or a node that is down: take it (again under the write lock).
  auto st = with_transaction(db_, [&]() -> Status {
    bool alive = false;
    std::string holder = holder_of(alive);
    if (!holder.empty() && holder != self && alive) {
      out.holder = holder;
      return {};
    }
    Statement q(db_,
                "INSERT INTO claims(item, node, claimed_at) VALUES (?,?,?) "
                "ON CONFLICT(item) DO UPDATE SET node = excluded.node, claimed_at = excluded.claimed_at");
    q.bind(1, item);
    q.bind(2, self);
    q.bind(3, static_cast<int64_t>(clock_.now()));
    q.run();
    out.mine = true;
    out.taken_over = !holder.empty() && holder != self;
    if (out.taken_over) out.holder = holder;
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status NodeRegistry::release(const std::string& item, const std::string& self) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "DELETE FROM claims WHERE item = ? AND node = ?");
    q.bind(1, item);
    q.bind(2, self);
    q.run();
    return {};
  });
}

}  // namespace bastion::recorder
