#include "gateway/app/services.h"

namespace bastion::gateway {

Services::Services(const Config& cfg, Database db, const Clock& clock)
    : cfg_(cfg),
      clock_(clock),
      db_(std::move(db)),
      policy_(db_, clock_),
      keys_(db_, clock_),
      audit_(db_, clock_),
      chain_(db_, clock_),
      retention_(db_, clock_),
      sessions_(db_, clock_),
      recordings_(db_, audit_, clock_),
      elevation_(policy_, audit_, cfg_, clock_),
      hr_(policy_, audit_, cfg_, clock_),
      mfa_(db_, clock_),
      console_(db_, clock_),
      revocations_(db_, clock_),
      nodes_(db_, clock_),
      scim_(db_),
      outbox_(db_),
      notifier_(cfg_, policy_, outbox_, clock_) {
  audit_.set_observer([this](int64_t seq, const std::string& hash, const recorder::AuditEvent& e) {
    return notifier_.on_audit(seq, hash, e);
  });
}

Result<std::unique_ptr<Services>> Services::open(const Config& cfg, const Clock& clock) {
  auto db = Database::open(cfg.database, Database::Mode::kOpenExisting, static_cast<int>(cfg.busy_timeout / 1000));
  if (!db) return db.error();
  return std::unique_ptr<Services>(new Services(cfg, std::move(*db), clock));
}

Result<DatabaseCheck> Services::check_database(const Config& cfg) {
  auto db = Database::open(cfg.database, Database::Mode::kReadOnly, static_cast<int>(cfg.busy_timeout / 1000));
  if (!db) return db.error();
  return DatabaseCheck{Database::display_name(cfg.database), db->schema_version(), Database::latest_schema_version()};
}

std::function<bool(const policy::Elevation&)> grant_used(Services& s) {
  return [&s](const policy::Elevation& e) {
    recorder::SessionFilter f;
    f.grant_id = e.grant_id;
    f.limit = 1;
    auto found = s.sessions().list(f);
    return found && !found->empty();
  };
}

}  // namespace bastion::gateway
