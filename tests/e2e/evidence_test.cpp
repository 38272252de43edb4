// End-to-end: `bastionctl evidence export` and the offline `bastion-verify`.
// One deployment with people, a customer-consented grant used in a session
// (with its WebAuthn step-ups), a break-glass grant, an HR leaver and
// recordings. Its pack verifies; then each test changes one thing behind the
// gateway's back (in the database, with SQL, as someone with the database
// but not the audit key would) or in the pack, and bastion-verify names it.
// Each test puts the database back as it was.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/audit_format.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/tar.h"
#include "fixture.h"

namespace bastion::e2e {
namespace {

class Evidence : public DeploymentTest<Evidence> {
 protected:
  static void SetUpTestSuite() {
    DeploymentTest<Evidence>::SetUpTestSuite();
    // Sign every second, so that a record that waited long for its
    // signature stands out; HR leavers are not held back by the breaker.
    d->edit_config("checkpoint_interval = \"60s\"", "checkpoint_interval = \"1s\"");
    d->edit_config("breaker_window = \"1h\"", "breaker_window = \"1s\"");
    d->ctl_ok({"customer", "add", "acme"});
    d->ctl_ok({"target", "add", "acme-app", "--address", "127.0.0.1:" + std::to_string(d->target_port()), "--host-key",
               d->target_host_pub(), "--customer", "acme"});
    d->ctl_ok({"role", "add", "support", "--targets", "customer=*", "--logins", d->login(), "--elevated",
               "--max-duration", "4h"});
    bob = new SshKeyFiles(d->add_person("bob", {"support"}));
    carol = new SshKeyFiles(d->add_person("carol", {}));
    d->ctl_ok({"customer", "approver", "add", "acme", "carol"});
    std::string bob_state = d->register_webauthn("bob");
    std::string carol_state = d->register_webauthn("carol");

    // A recorded session of a standing role.
    ASSERT_EQ(d->ssh(*alice, dest(), {"echo", "standing-access"}).exit_code, 0);
    // bob asks, carol (acme's approver) consents, bob uses the grant.
    auto req = d->ssh(*bob, "bob", {"request", d->login() + "@acme-app", "--for", "30m", "--reason", "TICKET-1"});
    ASSERT_EQ(req.exit_code, 0) << req.out << req.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(req.out, m, std::regex("REQ-[0-9A-Z]{8}"))) << req.out;
    auto ok = d->ssh_with_step_up(*carol, "carol", {"approve", m.str()}, carol_state);
    ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    ASSERT_TRUE(std::regex_search(ok.out, m, std::regex("GRT-[0-9A-Z]{8}"))) << ok.out;
    grant = m.str();
    auto used = d->ssh_with_step_up(*bob, d->login() + "@acme-app", {"echo", "under-grant"}, bob_state);
    ASSERT_EQ(used.exit_code, 0) << used.out << used.err;
    // Break-glass, and a leaver from an HR file.
    d->ctl_ok({"user", "add", "gina", "--employee-id", "E900", "--role", "ops"});
    d->ctl_ok({"elevate", "break-glass", "bob", d->login() + "@acme-app", "--for", "10m", "--reason", "INC-7"});
    write_text(d->dir() + "/leaver.jsonl",
               "{\"event_id\":\"hr-ev-1\",\"type\":\"leaver\",\"employee_id\":\"E900\",\"username\":\"gina\"}\n");
    d->ctl_ok({"hr", "apply", d->dir() + "/leaver.jsonl"});
    d->ctl_ok({"audit", "checkpoint"});
  }
  static void TearDownTestSuite() {
    delete bob;
    delete carol;
    bob = carol = nullptr;
    DeploymentTest<Evidence>::TearDownTestSuite();
  }

  static std::string key_pub() { return d->dir() + "/state/audit_signing_key.pub"; }

  // Exports the whole of today and yesterday into a new pack; returns its path.
  static std::string export_pack(const std::vector<std::string>& extra = {}) {
    std::string out = d->dir() + "/pack-" + std::to_string(++packs) + ".tar";
    std::vector<std::string> args = {"evidence", "export", "--from", "2020-01-01", "--to", "2099-01-01", "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = d->ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return out;
  }
  static ProcResult verify(const std::string& pack, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {BASTION_VERIFY_PATH, "--expect-key", key_pub()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(pack);
    return run(argv);
  }

  // The pack's entries, in order.
  using Entries = std::vector<std::pair<std::string, std::string>>;
  static Entries read_pack(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    TarReader tar([&](char* buf, size_t cap) -> Result<size_t> {
      in.read(buf, static_cast<std::streamsize>(cap));
      return static_cast<size_t>(in.gcount());
    });
    Entries out;
    for (;;) {
      auto e = tar.next();
      EXPECT_TRUE(e) << e.error().message;
      if (!e || !*e) break;
      std::string data((*e)->size, '\0');
      size_t got = 0;
      while (got < data.size()) {
        auto n = tar.read(data.data() + got, data.size() - got);
        if (!n || *n == 0) break;
        got += *n;
      }
      out.emplace_back((*e)->name, data);
    }
    return out;
  }
  static std::string write_pack(const Entries& entries, const std::string& name) {
    std::string path = d->dir() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    TarWriter tar([&](std::string_view b) -> Status {
      out.write(b.data(), static_cast<std::streamsize>(b.size()));
      return {};
    });
    for (const auto& [n, data] : entries) EXPECT_TRUE(tar.add(TarEntry{n, 0644, data.size(), 0}, data));
    EXPECT_TRUE(tar.finish());
    return path;
  }

  static inline SshKeyFiles* bob = nullptr;
  static inline SshKeyFiles* carol = nullptr;
  static inline std::string grant;
  static inline int packs = 0;
};

TEST_F(Evidence, ThePackVerifiesOfflineAndSaysWhatItHolds) {
  std::string pack = export_pack({"--with-recordings"});
  auto r = verify(pack);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("RESULT: PASS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(the key you expect)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BREAK-GLASS: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("starts at:  the first record of the log"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(verify(pack, {"--json"}).out);
  EXPECT_EQ(j["result"], "pass") << j.dump(2);
  EXPECT_EQ(j["grants"]["customer_consent"], 1) << j.dump(2);
  EXPECT_EQ(j["grants"]["break_glass"], 1) << j.dump(2);
  EXPECT_EQ(j["leavers"]["count"], 1) << j.dump(2);
  EXPECT_GE(j["sessions"], 2) << j.dump(2);
  EXPECT_EQ(j["sessions_under_grant"], 1) << j.dump(2);
  EXPECT_GE(j["recordings_checked"], 2) << j.dump(2);
  EXPECT_EQ(j["recordings_checked"], j["recordings"]) << j.dump(2);
  // The fingerprint printed is the one an auditor computes from the key file.
  auto fp = run({BASTION_VERIFY_PATH, "--fingerprint", key_pub()});
  ASSERT_EQ(fp.exit_code, 0) << fp.err;
  EXPECT_EQ(j["audit_key"].get<std::string>() + "\n", fp.out);
  // The export is in the audit trail, and the pack holds no secret.
  EXPECT_GE(d->sql_int64("SELECT COUNT(*) FROM audit_log WHERE action = 'evidence.export'"), 1);
  for (const auto& [name, data] : read_pack(pack)) {
    EXPECT_EQ(data.find("PRIVATE KEY"), std::string::npos) << name;
  }
  // Refusals change nothing.
  const int64_t exports = d->sql_int64("SELECT COUNT(*) FROM audit_log WHERE action = 'evidence.export'");
  const int64_t export_cps = d->sql_int64("SELECT COUNT(*) FROM audit_checkpoints WHERE kind = 'export'");
  auto again = d->ctl({"evidence", "export", "--from", "2020-01-01", "--to", "2099-01-01", "--out", pack});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
  auto backwards = d->ctl({"evidence", "export", "--from", "2026-02-01", "--to", "2026-01-01", "--out", pack + "x"});
  EXPECT_NE(backwards.exit_code, 0);
  EXPECT_NE(backwards.err.find("--to must be after --from"), std::string::npos) << backwards.err;
  EXPECT_FALSE(std::filesystem::exists(pack + "x"));
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM audit_log WHERE action = 'evidence.export'"), exports);
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM audit_checkpoints WHERE kind = 'export'"), export_cps);
  // A period before the log began has nothing to show; a quiet one shows
  // the record before it, signed.
  auto before = d->ctl({"evidence", "export", "--from", "2021-01-01", "--to", "2021-02-01", "--out", pack + "y"});
  EXPECT_NE(before.exit_code, 0);
  EXPECT_NE(before.err.find("the audit log has no record before 2021-02-01T00:00:00Z"), std::string::npos)
      << before.err;
  auto quiet = d->ctl({"evidence", "export", "--from", "2098-01-01", "--to", "2099-01-01", "--out", pack + "z"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  auto q = verify(pack + "z");
  EXPECT_EQ(q.exit_code, 0) << q.out;
  EXPECT_NE(q.out.find("(0 in the period)"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("the one before the records the period needs"), std::string::npos) << q.out;
}

TEST_F(Evidence, AModifiedRecordIsNamed) {
  int64_t seq = d->sql_int64("SELECT MIN(seq) FROM audit_log WHERE action = 'session.start'");
  d->sql_exec("UPDATE audit_log SET login = 'someone-else' WHERE seq = " + std::to_string(seq));
  auto r = verify(export_pack());
  d->sql_exec("UPDATE audit_log SET login = '" + d->login() + "' WHERE seq = " + std::to_string(seq));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("record seq " + std::to_string(seq) + " (session.start"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("was modified"), std::string::npos) << r.out;
  EXPECT_EQ(verify(export_pack()).exit_code, 0);  // put back: whole again
}

TEST_F(Evidence, ADroppedRecordIsNamed) {
  int64_t seq = d->sql_int64("SELECT MIN(seq) FROM audit_log WHERE action = 'grant.start'");
  const std::string s = std::to_string(seq);
  d->sql_exec("CREATE TABLE kept AS SELECT * FROM audit_log WHERE seq = " + s);
  d->sql_exec("DELETE FROM audit_log WHERE seq = " + s);
  auto r = verify(export_pack());
  d->sql_exec("INSERT INTO audit_log SELECT * FROM kept; DROP TABLE kept");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("records seq " + s + " are missing from the chain"), std::string::npos) << r.out;
}

TEST_F(Evidence, ARemovedCheckpointShowsAsALateSignature) {
  // Every checkpoint over the set-up's records but the last: they now wait
  // for their signature much longer than the gateway's 1 s interval allows.
  int64_t session = d->sql_int64("SELECT MIN(seq) FROM audit_log WHERE action = 'session.start'");
  const std::string started = "(SELECT ts FROM audit_log WHERE seq = " + std::to_string(session) + ")";
  // The newest checkpoint must come well after that session (run alone, the
  // test may be quick): a new record, signed within a second.
  int64_t gap_ms = d->sql_int64("SELECT (MAX(ts) - " + started + ") / 1000 FROM audit_checkpoints");
  if (gap_ms < 12000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(12000 - gap_ms));
    ASSERT_EQ(d->ssh(*alice, dest(), {"true"}).exit_code, 0);
    ASSERT_TRUE(wait_for(
        [&] {
          return d->sql_int64(
                     "SELECT COUNT(*) FROM audit_log WHERE seq > "
                     "(SELECT MAX(seq) FROM audit_checkpoints)") == 0;
        },
        10000));
  }
  int64_t last = d->sql_int64("SELECT MAX(seq) FROM audit_checkpoints");
  d->sql_exec("CREATE TABLE kept_cp AS SELECT * FROM audit_checkpoints WHERE seq >= " + std::to_string(session) +
              " AND seq < " + std::to_string(last));
  ASSERT_GT(d->sql_int64("SELECT COUNT(*) FROM kept_cp"), 0);
  d->sql_exec("DELETE FROM audit_checkpoints WHERE seq IN (SELECT seq FROM kept_cp)");
  auto r = verify(export_pack(), {"--max-signing-delay", "10s"});
  d->sql_exec("INSERT INTO audit_checkpoints SELECT * FROM kept_cp; DROP TABLE kept_cp");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("for a signature (the checkpoint at seq"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("a checkpoint was removed"), std::string::npos) << r.out;
  // With the checkpoints back, the same bound holds.
  auto whole = verify(export_pack(), {"--max-signing-delay", "10s"});
  EXPECT_EQ(whole.exit_code, 0) << whole.out;
}

TEST_F(Evidence, ASwappedRecordingDigestIsNamed) {
  std::string session = "(SELECT session_id FROM recordings ORDER BY started_at LIMIT 1)";
  d->sql_exec("CREATE TABLE kept_rec AS SELECT * FROM recordings WHERE session_id = " + session);
  d->sql_exec("UPDATE recordings SET sha256 = '" + std::string(64, 'a') + "' WHERE session_id = " + session);
  auto r = verify(export_pack());
  d->sql_exec(
      "DELETE FROM recordings WHERE session_id IN (SELECT session_id FROM kept_rec); "
      "INSERT INTO recordings SELECT * FROM kept_rec; DROP TABLE kept_rec");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("the recording digest in the database (aaaaaaaaaaaaaaaa...) is not the one its "
                       "recording.end record"),
            std::string::npos)
      << r.out;
}

TEST_F(Evidence, ASessionOutsideItsGrantWindowIsNamed) {
  // A session under the grant, dated a day after it ended, written into the
  // database behind the gateway's back.
  d->sql_exec(
      "INSERT INTO sessions (id, user_name, target, login, source, pid, started_at, grant_id) "
      "SELECT 'S-FORGED', user_name, target, login, source, 1, started_at + 86400000000, grant_id "
      "FROM sessions WHERE grant_id = '" +
      grant + "'");
  auto r = verify(export_pack());
  d->sql_exec("DELETE FROM sessions WHERE id = 'S-FORGED'");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("session S-FORGED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("under grant " + grant + ", outside the grant's window"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("has no session.start record in the chain"), std::string::npos) << r.out;
}

TEST_F(Evidence, AManifestResignedWithAnotherKeyIsRefused) {
  Entries e = read_pack(export_pack());
  const std::string key_file = d->dir() + "/other_audit_key";
  std::filesystem::remove(key_file);
  auto other = Ed25519Key::create(key_file);
  ASSERT_TRUE(other) << other.error().message;
  // A forger's pack: one record changed, the digests and manifest redone,
  // the manifest and key file naming their key, signed by it.
  std::map<std::string, std::string> digest;
  for (auto& [name, data] : e) {
    if (name == "audit/records.jsonl") data = std::regex_replace(data, std::regex("under-grant"), "routine-work");
    if (name == "audit/checkpoint-key.pub") data = audit_public_key_line(other->public_key()) + "\n";
    digest[name] = hex_encode(sha256(as_bytes(data)));
  }
  for (auto& [name, data] : e) {
    if (name != "MANIFEST.json") continue;
    auto m = nlohmann::json::parse(data);
    m["audit_key"] = base64_encode(other->public_key());
    for (auto& f : m["files"]) {
      f["sha256"] = digest[f["name"].get<std::string>()];
      f["size"] = 0;
      for (const auto& [n, x] : e) {
        if (n == f["name"]) f["size"] = x.size();
      }
    }
    data = m.dump(2) + "\n";
    digest[name] = data;
  }
  for (auto& [name, data] : e) {
    if (name != "MANIFEST.sig") continue;
    auto sig = other->sign(as_bytes(digest["MANIFEST.json"]));
    ASSERT_TRUE(sig);
    data = "bastion-evidence-signature ed25519 " + base64_encode(*sig) + "\n";
  }
  auto r = verify(write_pack(e, "forged.tar"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("which is not the key you expect (--expect-key)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("does not carry a valid signature by the audit key in force"), std::string::npos) << r.out;
  // Without --expect-key the checkpoints still give it away.
  auto bare = run({BASTION_VERIFY_PATH, d->dir() + "/forged.tar"});
  EXPECT_EQ(bare.exit_code, 1) << bare.out;
  // And a pack changed but not re-signed fails on the manifest.
  Entries plain = read_pack(export_pack());
  for (auto& [name, data] : plain) {
    if (name == "review/grants.jsonl") data += "\n";
  }
  auto changed = verify(write_pack(plain, "changed.tar"));
  EXPECT_EQ(changed.exit_code, 1);
  EXPECT_NE(changed.out.find("review/grants.jsonl does not match its SHA-256 in the manifest"), std::string::npos)
      << changed.out;
  // Not a pack at all.
  write_text(d->dir() + "/junk.tar", "junk");
  EXPECT_EQ(run({BASTION_VERIFY_PATH, d->dir() + "/junk.tar"}).exit_code, 2);
}

}  // namespace
}  // namespace bastion::e2e
