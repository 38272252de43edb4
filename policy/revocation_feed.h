// Revocations every gateway node acts on.
//
// Contract: the node that ends sessions after a change (a leaver, a disabled
// account, a revoked key, a session an administrator ends, a revoked grant)
// publishes what it did here, and notifies kRevocationChannel in the same
// transaction; every other node on the database reads what is new (woken by
// the notification, and at least once a second in case one was missed) and
// does the same to its own live sessions. Events are ordered by seq (one
// writer at a time: the database's write lock) and kept for a day.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::policy {

inline constexpr const char* kRevocationChannel = "bastion_revocations";

enum class RevocationKind {
  kEndUser,      // subject: a person; end all their sessions (left, disabled)
  kEndKey,       // subject: a key fingerprint; end the sessions it opened
  kRecheckUser,  // subject: a person; end the sessions their roles no longer allow
  kKillSession,  // subject: a session id
  kSweepGrants,  // a grant ended: check the sessions under grants now
};

std::string to_string(RevocationKind kind);

struct Revocation {
  int64_t seq = 0;
  Micros at = 0;
  std::string node;  // who published it (and already acted on it)
  RevocationKind kind = RevocationKind::kEndUser;
  std::string subject;
  std::string message;  // what the person whose session ends is told
};

class RevocationFeed {
 public:
  RevocationFeed(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  Status publish(const std::string& node, RevocationKind kind, const std::string& subject, const std::string& message);
  // Events after `seq`, oldest first, at most `limit`.
  Result<std::vector<Revocation>> since(int64_t seq, int limit = 1000);
  // The newest event's seq (0: none yet).
  Result<int64_t> newest();
  // Drops events older than `before`; how many.
  Result<int> forget_before(Micros before);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::policy
