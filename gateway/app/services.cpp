#include "gateway/app/services.h"

namespace bastion::gateway {

Services::Services(const Config& cfg, Database db)
    : cfg_(cfg),
      db_(std::move(db)),
      policy_(db_, SystemClock::instance()),
      keys_(db_, SystemClock::instance()),
      audit_(db_, SystemClock::instance()),
      sessions_(db_, SystemClock::instance()),
      elevation_(policy_, audit_, cfg_, SystemClock::instance()),
      hr_(policy_, audit_, cfg_, SystemClock::instance()),
      mfa_(db_, SystemClock::instance()) {}

Result<std::unique_ptr<Services>> Services::open(const Config& cfg) {
  auto db = Database::open(cfg.database, Database::Mode::kOpenExisting,
                           static_cast<int>(cfg.busy_timeout / 1000));
  if (!db) return db.error();
  return std::unique_ptr<Services>(new Services(cfg, std::move(*db)));
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
