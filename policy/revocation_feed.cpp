#include "policy/revocation_feed.h"

#include "common/database_sql.h"

namespace bastion::policy {
namespace {

constexpr RevocationKind kKinds[] = {RevocationKind::kEndUser, RevocationKind::kEndKey, RevocationKind::kRecheckUser,
                                     RevocationKind::kKillSession, RevocationKind::kSweepGrants};

}  // namespace

std::string to_string(RevocationKind kind) {
  switch (kind) {
    case RevocationKind::kEndUser: return "end_user";
    case RevocationKind::kEndKey: return "end_key";
    case RevocationKind::kRecheckUser: return "recheck_user";
    case RevocationKind::kKillSession: return "kill_session";
    case RevocationKind::kSweepGrants: return "sweep_grants";
  }
  return "?";
}

Status RevocationFeed::publish(const std::string& node, RevocationKind kind, const std::string& subject,
                               const std::string& message) {
  return with_transaction(db_, [&]() -> Status {
    int64_t seq = query_int64(db_, "SELECT COALESCE(MAX(seq), 0) + 1 FROM revocations");
    Statement ins(db_, "INSERT INTO revocations(seq, at, node, kind, subject, message) VALUES (?,?,?,?,?,?)");
    ins.bind(1, seq);
    ins.bind(2, static_cast<int64_t>(clock_.now()));
    ins.bind(3, node);
    ins.bind(4, to_string(kind));
    ins.bind(5, subject);
    ins.bind(6, message.substr(0, 1000));
    ins.run();
    notify(db_, kRevocationChannel);
    return {};
  });
}

Result<std::vector<Revocation>> RevocationFeed::since(int64_t seq, int limit) {
  return guarded([&]() -> Result<std::vector<Revocation>> {
    Statement q(db_,
                "SELECT seq, at, node, kind, subject, message FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?");
    q.bind(1, seq);
    q.bind(2, limit);
    std::vector<Revocation> out;
    while (q.step()) {
      Revocation r;
      r.seq = q.column(0).int64();
      r.at = q.column(1).int64();
      r.node = q.column(2).text();
      std::string kind = q.column(3).text();
      bool known = false;
      for (RevocationKind k : kKinds) {
        if (to_string(k) == kind) {
          r.kind = k;
          known = true;
        }
      }
      // A kind a newer node wrote: the sweeps still catch what it ended.
      if (!known) continue;
      r.subject = q.column(4).text();
      r.message = q.column(5).text();
      out.push_back(std::move(r));
    }
    return out;
  });
}

Result<int64_t> RevocationFeed::newest() {
  return guarded(
      [&]() -> Result<int64_t> { return query_int64(db_, "SELECT COALESCE(MAX(seq), 0) FROM revocations"); });
}

Result<int> RevocationFeed::forget_before(Micros before) {
  int n = 0;
  auto st = with_transaction(db_, [&]() -> Status {
    // Keep the newest, so that the next seq never goes back.
    Statement del(db_, "DELETE FROM revocations WHERE at < ? AND seq < (SELECT MAX(seq) FROM revocations)");
    del.bind(1, static_cast<int64_t>(before));
    n = del.run();
    return {};
  });
  if (!st) return st.error();
  return n;
}

}  // namespace bastion::policy
