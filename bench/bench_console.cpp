// bastion-bench console: the web console's server time (what the monitor
// spends answering a page call, ConsoleWeb::call) on a large deployment:
// PEOPLE people, TARGETS targets of CUSTOMERS customers, ELEVATIONS
// requests and grants of history. Prints markdown table rows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "common/database_sql.h"
#include "common/encoding.h"
#include "gateway/app/console_web.h"

using namespace bastion;

namespace {

using Steady = std::chrono::steady_clock;

double ms_since(Steady::time_point t0) { return std::chrono::duration<double, std::milli>(Steady::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// Fills the database with raw rows (one transaction): bastion's own store
// code is what is measured, not the loading.
// Sessions (each ended 10 min after it started) and audit records over the
// past year, raw: their hashes are not a chain, and one checkpoint (not
// signed) covers them all, as a periodic checkpoint would, so the Audit
// page's tail check has nothing after it (its status reads FAILED: the
// signature; the time is what is measured).
void fill_history(Database& db, int people, int targets, int sessions, int audit) {
  std::mt19937 rng(11);
  exec(db, "BEGIN");
  const Micros now = SystemClock::instance().now();
  const Micros year = 365 * 24 * 3600 * kMicrosPerSecond;
  {
    Statement s(db,
                "INSERT INTO sessions(id, user_name, target, login, source, pid, started_at, ended_at, end_reason, "
                "node) VALUES (?, ?, ?, 'root', '10.0.0.9:50000', 1, ?, ?, 'client disconnected', '')");
    for (int i = 0; i < sessions; ++i) {
      char id[24];
      std::snprintf(id, sizeof id, "s-%016d", i);
      Micros started = now - year + static_cast<Micros>(i) * (year / sessions);
      s.bind(1, id);
      s.bind(2, "person" + std::to_string(rng() % static_cast<unsigned>(people)));
      s.bind(3, "target" + std::to_string(rng() % static_cast<unsigned>(targets)));
      s.bind(4, static_cast<int64_t>(started));
      s.bind(5, static_cast<int64_t>(started + 600 * kMicrosPerSecond));
      s.run();
      s.reset();
    }
    // Ten commands a session (as the monitor stores them at a recording's
    // end), one of them this session's own (an error number).
    Statement typed(db, "INSERT INTO recording_commands(session_id, channel, offset_us, command) VALUES (?, 1, ?, ?)");
    for (int i = 0; i < sessions; ++i) {
      char id[24];
      std::snprintf(id, sizeof id, "s-%016d", i);
      char own[64];
      std::snprintf(own, sizeof own, "grep -r ERROR-%06d /var/log/app", i);
      const std::string svc = "svc" + std::to_string(i % 50);
      const std::string commands[] = {"sudo -i",
                                      "cd /srv/" + svc,
                                      "ls -la /var/log",
                                      "systemctl status " + svc,
                                      "journalctl -u " + svc + " --since today",
                                      own,
                                      "vim /etc/app/conf" + std::to_string(i % 100) + ".toml",
                                      "systemctl restart " + svc,
                                      "tail -n 100 /var/log/syslog",
                                      "exit"};
      int64_t at = 0;
      for (const auto& cmd : commands) {
        at += 3 * kMicrosPerSecond;
        typed.bind(1, id);
        typed.bind(2, at);
        typed.bind(3, cmd);
        typed.run();
        typed.reset();
      }
    }
    static const char* const kActions[] = {"auth",          "access",          "session.start",
                                           "session.end",   "recording.chunk", "recording.end",
                                           "grant.approve", "console.signin"};
    Statement a(db,
                "INSERT INTO audit_log(seq, ts, actor, action, target, login, source, session_id, outcome, reason, "
                "details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, 'root', '10.0.0.9', ?, 'info', ?, '{}', '', '')");
    for (int i = 1; i <= audit; ++i) {
      a.bind(1, static_cast<int64_t>(i));
      a.bind(2, static_cast<int64_t>(now - year + static_cast<Micros>(i) * (year / audit)));
      a.bind(3, "person" + std::to_string(rng() % static_cast<unsigned>(people)));
      a.bind(4, kActions[rng() % 8]);
      a.bind(5, "target" + std::to_string(rng() % static_cast<unsigned>(targets)));
      a.bind(6, "s-" + std::to_string(i / 8));
      a.bind(7, "reason " + std::to_string(i));
      a.run();
      a.reset();
    }
    Statement c(db,
                "INSERT INTO audit_checkpoints(seq, hash, ts, kind, signature, next_key) VALUES (?, '', ?, "
                "'periodic', '', '')");
    c.bind(1, static_cast<int64_t>(audit));
    c.bind(2, static_cast<int64_t>(now));
    c.run();
    // carol audits too.
    exec(db,
         "INSERT INTO roles(name, target_selector, logins, created_at, console) VALUES ('auditors', '', '', 0, "
         "'auditor')");
    exec(db, "INSERT INTO user_roles(user_name, role_name) VALUES ('carol', 'auditors')");
    // ... and administers (the People page).
    exec(db,
         "INSERT INTO roles(name, target_selector, logins, created_at, console) VALUES ('admins', '', '', 0, "
         "'admin')");
    exec(db, "INSERT INTO user_roles(user_name, role_name) VALUES ('carol', 'admins')");
  }
  exec(db, "COMMIT");
}

bool fill(Database& db, int people, int targets, int customers, int elevations, std::string& pending_id) {
  std::mt19937 rng(7);
  exec(db, "BEGIN");
  const Micros now = SystemClock::instance().now();
  const Micros day = 24 * 3600 * kMicrosPerSecond;
  {
    Statement u(db, "INSERT INTO users(name, state, service_account, created_at) VALUES (?, 'active', 0, 0)");
    // Everyone has a security-key SSH key (the People page lists them).
    Statement k(db,
                "INSERT INTO ssh_keys(fingerprint, user_name, key_type, public_key, state, created_at) VALUES (?, ?, "
                "'sk-ssh-ed25519@openssh.com', 'sk-ssh-ed25519@openssh.com AAAA', 'active', 0)");
    for (int i = 0; i < people; ++i) {
      u.bind(1, "person" + std::to_string(i));
      u.run();
      u.reset();
      k.bind(1, "SHA256:bench" + std::to_string(i));
      k.bind(2, "person" + std::to_string(i));
      k.run();
      k.reset();
    }
    exec(db, "INSERT INTO users(name, state, service_account, created_at) VALUES ('carol', 'active', 0, 0)");
    exec(db,
         "INSERT INTO roles(name, target_selector, logins, created_at, elevated) VALUES ('support', 'customer=*', "
         "'root', 0, 1)");
    Statement c(db, "INSERT INTO customers(name, created_at) VALUES (?, 0)");
    for (int i = 0; i < customers; ++i) {
      c.bind(1, "customer" + std::to_string(i));
      c.run();
      c.reset();
    }
    // carol approves for 5 customers.
    for (int i = 0; i < 5; ++i) {
      exec(db, "INSERT INTO customer_approvers(customer, user_name, created_at) VALUES ('customer" + std::to_string(i) +
                   "', 'carol', 0)");
    }
    Statement t(db,
                "INSERT INTO targets(name, host, port, host_key, created_at, customer) VALUES (?, '10.0.0.1', 22, "
                "'ssh-ed25519 AAAA', 0, ?)");
    for (int i = 0; i < targets; ++i) {
      t.bind(1, "target" + std::to_string(i));
      t.bind(2, "customer" + std::to_string(i % customers));
      t.run();
      t.reset();
    }
    Statement e(db,
                "INSERT INTO elevations(id, grant_id, user_name, target, login, role, customer, reason, duration, "
                "created_at, expires_at, state, break_glass, decided_by, decided_at, starts_at, ends_at) VALUES "
                "(?, ?, ?, ?, 'root', 'support', ?, 'TICKET', 1800000000, ?, ?, ?, 0, ?, ?, ?, ?)");
    for (int i = 0; i < elevations; ++i) {
      int target = static_cast<int>(rng() % static_cast<unsigned>(targets));
      // The newest 20 are pending, half of them for carol's customers (0-4).
      bool pending = i >= elevations - 20;
      if (pending && i % 2 == 0) target = target / customers * customers + i % 5;
      Micros created = now - 365 * day + static_cast<Micros>(i) * (365 * day / elevations);
      // The rest is history: approved and over, or denied.
      bool denied = !pending && rng() % 5 == 0;
      char id[16];
      std::snprintf(id, sizeof id, "REQ-%08d", i);
      e.bind(1, id);
      if (pending || denied) e.bind(2);
      else e.bind(2, "GRT-" + std::string(id + 4));
      e.bind(3, "person" + std::to_string(rng() % static_cast<unsigned>(people)));
      e.bind(4, "target" + std::to_string(target));
      e.bind(5, "customer" + std::to_string(target % customers));
      e.bind(6, static_cast<int64_t>(created));
      e.bind(7, static_cast<int64_t>(pending ? now + 3600 * kMicrosPerSecond : created + 3600 * kMicrosPerSecond));
      e.bind(8, pending ? "pending" : denied ? "denied" : "approved");
      if (pending) {
        e.bind(9, "");
        e.bind(10);
        e.bind(11);
        e.bind(12);
      } else {
        e.bind(9, "carol");
        e.bind(10, static_cast<int64_t>(created + 60 * kMicrosPerSecond));
        e.bind(11, static_cast<int64_t>(created + 60 * kMicrosPerSecond));
        e.bind(12, static_cast<int64_t>(created + 1860 * kMicrosPerSecond));
      }
      e.run();
      e.reset();
      if (pending && target % customers < 5) pending_id = id;
    }
    // carol's security key (only its row: the bench signs in by creating the session directly).
    Statement w(
        db,
        "INSERT INTO webauthn_credentials(id, user_name, cose_alg, public_key, state, created_at, confirmed_at) "
        "VALUES ('Y2Fyb2wta2V5', 'carol', -7, ?, 'active', 0, 0)");
    const char key = 0;
    w.bind(1, &key, 1);
    w.run();
  }
  exec(db, "COMMIT");
  return true;
}

}  // namespace

int bench_console(const std::string& dir, int people, int targets, int customers, int elevations, int sessions,
                  int audit, int rounds) {
  std::string path = dir + "/bench-console.db";
  std::filesystem::remove(path);
  auto created = Database::open(path, Database::Mode::kCreate);
  if (!created) {
    std::fprintf(stderr, "bastion-bench: %s\n", created.error().message.c_str());
    return 1;
  }
  std::string pending_id;
  auto t0 = Steady::now();
  fill(*created, people, targets, customers, elevations, pending_id);
  fill_history(*created, people, targets, sessions, audit);
  double fill_s = ms_since(t0) / 1000;
  Config cfg;
  cfg.database = path;
  cfg.state_dir = dir;
  auto s = gateway::Services::open(cfg);
  if (!s) {
    std::fprintf(stderr, "bastion-bench: %s\n", s.error().message.c_str());
    return 1;
  }
  auto cookie = (*s)->console().create_session("carol", "Y2Fyb2wta2V5", "127.0.0.1");
  if (!cookie) {
    std::fprintf(stderr, "bastion-bench: %s\n", cookie.error().message.c_str());
    return 1;
  }
  gateway::ConsoleWeb console(**s, {"gw.example.com", "https://gw.example.com"});
  auto measure = [&](const std::string& op, const nlohmann::json& args, size_t* rows, int calls) {
    std::vector<double> ms;
    nlohmann::json call = {{"cookie", *cookie}, {"source", "127.0.0.1"}, {"args", args}};
    for (int i = 0; i < calls; ++i) {
      auto r0 = Steady::now();
      auto reply = console.call(op, call);
      ms.push_back(ms_since(r0));
      if (reply.status != 200) {
        std::fprintf(stderr, "bastion-bench: %s answered %d: %s\n", op.c_str(), reply.status,
                     reply.body.dump().c_str());
        return std::vector<double>{};
      }
      if (rows != nullptr) {
        *rows = 0;
        for (const char* k : {"awaiting", "mine", "others", "history", "sessions", "records", "people"}) {
          if (reply.body.contains(k)) *rows += reply.body[k].size();
        }
      }
    }
    return ms;
  };
  std::printf(
      "| deployment | %d people, %d targets, %d customers, %d requests and grants, %d sessions (%d commands typed), "
      "%d audit records (filled in %.1f s) |\n",
      people, targets, customers, elevations, sessions, sessions * 10, audit, fill_s);
  size_t rows = 0;
  auto list = measure("requests", nlohmann::json::object(), &rows, rounds);
  if (list.empty()) return 1;
  std::printf("| `requests` (an approver of 5 customers; %zu rows listed) | p50 %.1f ms, p99 %.1f ms (%d calls) |\n",
              rows, percentile(list, 0.5), percentile(list, 0.99), rounds);
  auto one = measure("request", {{"id", pending_id}}, &rows, rounds);
  if (one.empty()) return 1;
  std::printf(
      "| `request` (one pending request, with the requester's history) | p50 %.1f ms, p99 %.1f ms (%d calls) |\n",
      percentile(one, 0.5), percentile(one, 0.99), rounds);
  struct Page {
    const char* op;
    nlohmann::json args;
    const char* what;
  };
  const std::vector<Page> pages = {
      {"recordings", nlohmann::json::object(), "`recordings`, no filter (an auditor: the newest)"},
      {"recordings", {{"user", "person7"}}, "`recordings`, one person"},
      {"recordings", {{"customer", "customer3"}}, "`recordings`, one customer"},
      {"recordings", {{"since", "2000-01-01"}, {"until", "2000-01-31"}}, "`recordings`, a month with none"},
      {"recordings", {{"command", "ERROR-042424"}}, "`recordings`, a command typed in one session"},
      {"recordings", {{"command", "Systemctl Restart svc7"}}, "`recordings`, a command in 2% of sessions"},
      {"recordings", {{"command", "systemctl status"}}, "`recordings`, a command in every session (the newest)"},
      {"recordings", {{"command", "rm -rf"}}, "`recordings`, a command nobody typed"},
      {"audit", nlohmann::json::object(), "`audit`, no filter (the newest 200, and the chain's tail)"},
      {"audit", {{"actor", "person7"}}, "`audit`, one actor"},
      {"audit", {{"action", "grant.approve"}}, "`audit`, one action"},
      {"audit", {{"action", "grant.revoke"}}, "`audit`, an action with no record"},
      {"audit", {{"session", "s-4242"}}, "`audit`, one session"},
      {"audit", {{"text", "reason 424242"}}, "`audit`, text in reasons and details"},
      {"audit", {{"text", "REASON 4242"}}, "`audit`, text in reasons and details, any case, in 111 records"},
      {"audit", {{"text", "reason"}}, "`audit`, text in every record (the newest 200)"},
      {"audit",
       {{"text", "reason"}, {"action", "grant.revoke"}},
       "`audit`, text in every record, of an action with none"},
      {"people", nlohmann::json::object(), "`people` (the first 500 of everyone, with keys and last login)"},
      {"people", {{"q", "person42"}}, "`people`, a name filter"},
      {"people", {{"check_user", "person7"}, {"check_dest", "root@target3"}}, "`people` with an access check"},
      {"people", {{"who_can", "target3"}}, "`people` with who-can"},
  };
  for (const auto& p : pages) {
    auto t = measure(p.op, p.args, &rows, std::max(1, rounds / 10));
    if (t.empty()) return 1;
    std::printf("| %s; %zu rows | p50 %.1f ms, p99 %.1f ms (%d calls) |\n", p.what, rows, percentile(t, 0.5),
                percentile(t, 0.99), std::max(1, rounds / 10));
  }
  std::filesystem::remove(path);
  return 0;
}
