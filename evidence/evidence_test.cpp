// Unit tests of the evidence pack: packs built here from made-up records,
// signed with a key made here, then changed one way at a time; what
// bastion-verify reports for each. The e2e tests (tests/e2e/evidence_test.cpp)
// do the same with a real gateway's export.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/audit_format.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/tar.h"
#include "evidence/pack_format.h"
#include "evidence/pack_verifier.h"
#include "evidence/pack_writer.h"

namespace bastion::evidence {
namespace {

constexpr Micros kT0 = 1'780'000'000'000'000;  // 2026-05-28
constexpr Micros kSecond = kMicrosPerSecond;

using Entries = std::vector<std::pair<std::string, std::string>>;

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("evidence-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto k = Ed25519Key::create((dir_ / "audit_key").string());
    ASSERT_TRUE(k) << k.error().message;
    key_ = std::make_unique<Ed25519Key>(std::move(*k));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  StoredRecord& add(const std::string& action, const nlohmann::json& details, Micros ts,
                    const std::string& session = "", const std::string& actor = "admin:root") {
    StoredRecord r;
    r.seq = static_cast<int64_t>(records_.size()) + 1;
    r.ts = ts;
    r.actor = actor;
    r.action = action;
    r.session_id = session;
    r.outcome = "allow";
    r.details = details.dump();
    r.prev_hash = records_.empty() ? kGenesisHash : records_.back().hash;
    r.hash = chain_hash(r.prev_hash, r);
    records_.push_back(r);
    return records_.back();
  }
  void sign(Micros ts, const std::string& next_key = "") {
    Checkpoint c{records_.back().seq, records_.back().hash, ts, next_key.empty() ? "periodic" : "rotate", "", next_key};
    auto sig = signer()->sign(as_bytes(checkpoint_message(c)));
    ASSERT_TRUE(sig);
    c.signature = base64_encode(*sig);
    cps_.push_back(c);
  }
  // A pack of everything added so far; `sessions` as sessions/sessions.jsonl.
  std::string write(const std::string& sessions = "", const std::string& grants = "") {
    std::string path = (dir_ / ("pack-" + std::to_string(++n_) + ".tar")).string();
    auto w = PackWriter::create(path, kT0 / kSecond);
    EXPECT_TRUE(w) << w.error().message;
    EXPECT_TRUE((*w)->add(kReadme, "test\n"));
    EXPECT_TRUE((*w)->add(kKeyFile, audit_public_key_line(signer()->public_key()) + "\n"));
    std::string cps, recs;
    for (const auto& c : cps_) cps += checkpoint_json(c).dump() + "\n";
    for (const auto& r : records_) recs += record_json(r).dump() + "\n";
    EXPECT_TRUE((*w)->add(kCheckpoints, cps));
    EXPECT_TRUE((*w)->add(kPurgeAnchors, purge_));
    EXPECT_TRUE((*w)->add(kRecords, recs));
    EXPECT_TRUE((*w)->add(kAccessReview, R"({"people":[{"name":"bob","state":"active"}],"leavers":[]})"));
    EXPECT_TRUE((*w)->add(kGrants, grants));
    EXPECT_TRUE((*w)->add(kLeavers, leavers_));
    EXPECT_TRUE((*w)->add(kSessions, sessions));
    nlohmann::json m = {{"format", kFormat},
                        {"generated_at", format_utc(kT0)},
                        {"period", {{"from", format_utc(kT0)}, {"to", format_utc(kT0 + 3600 * kSecond)}}},
                        {"records",
                         {{"first_seq", records_.front().seq},
                          {"last_seq", records_.back().seq},
                          {"context_seq", nullptr},
                          {"period_first_seq", records_.front().seq},
                          {"period_last_seq", records_.back().seq}}},
                        {"checkpoint_interval_us", 60 * kSecond},
                        {"audit_key", base64_encode(signer()->public_key())}};
    EXPECT_TRUE((*w)->finish(m, *signer()));
    return path;
  }
  static Result<PackReport> check(const std::string& path, const VerifyOptions& o = {}) {
    std::ifstream in(path, std::ios::binary);
    return verify_pack(
        [&](char* buf, size_t cap) -> Result<size_t> {
          in.read(buf, static_cast<std::streamsize>(cap));
          return static_cast<size_t>(in.gcount());
        },
        o);
  }
  static std::string all(const PackReport& r) {
    std::string s;
    for (const auto& e : r.exceptions) s += e + "\n";
    return s;
  }
  static Entries entries(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    TarReader tar([&](char* buf, size_t cap) -> Result<size_t> {
      in.read(buf, static_cast<std::streamsize>(cap));
      return static_cast<size_t>(in.gcount());
    });
    Entries out;
    while (true) {
      auto e = tar.next();
      if (!e || !*e) break;
      std::string data;
      char buf[4096];
      for (auto n = tar.read(buf, sizeof buf); n && *n > 0; n = tar.read(buf, sizeof buf)) data.append(buf, *n);
      out.emplace_back((*e)->name, data);
    }
    return out;
  }
  std::string rewrite(const Entries& e) {
    std::string path = (dir_ / ("rewritten-" + std::to_string(++n_) + ".tar")).string();
    std::ofstream out(path, std::ios::binary);
    TarWriter tar([&](std::string_view b) -> Status {
      out.write(b.data(), static_cast<std::streamsize>(b.size()));
      return {};
    });
    for (const auto& [name, data] : e) EXPECT_TRUE(tar.add(TarEntry{name, 0644, data.size(), 0}, data));
    EXPECT_TRUE(tar.finish());
    return path;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Ed25519Key> key_;
  std::vector<StoredRecord> records_;
  std::vector<Checkpoint> cps_;
  std::string leavers_;
  std::string purge_ = "{\"newest\":null}\n";
  std::unique_ptr<Ed25519Key> next_key_;  // after a rotation: the key that signs
  Ed25519Key* signer() { return next_key_ ? next_key_.get() : key_.get(); }
  int n_ = 0;
};

TEST_F(PackTest, ACleanPackPasses) {
  add("user.add", {{"user", "bob"}}, kT0);
  add("session.start", {}, kT0 + kSecond, "S-1", "bob");
  sign(kT0 + 2 * kSecond);
  auto r = check(write(R"({"id":"S-1","user":"bob","target":"","login":"","grant_id":"","started_at_us":)" +
                       std::to_string(kT0 + kSecond) + R"(,"recordings":[]})" + "\n"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->ok()) << all(*r);
  EXPECT_EQ(r->first_seq, 1);
  EXPECT_EQ(r->last_seq, 2);
  EXPECT_EQ(r->sessions, 1);
  EXPECT_EQ(r->key_fingerprint, audit_key_fingerprint(key_->public_key()));
  EXPECT_EQ(r->start, "the first record of the log");
  EXPECT_NE(summary_text(*r).find("RESULT: PASS"), std::string::npos);
}

TEST_F(PackTest, ARecordEditedInThePackBreaksTheManifestAndTheChain) {
  add("user.add", {{"user", "bob"}}, kT0);
  add("user.add", {{"user", "eve"}}, kT0 + kSecond);
  sign(kT0 + 2 * kSecond);
  Entries e = entries(write());
  for (auto& [name, data] : e) {
    if (name == kRecords) data.replace(data.find("eve"), 3, "mal");
  }
  auto r = check(rewrite(e));
  ASSERT_TRUE(r);
  EXPECT_NE(all(*r).find("audit/records.jsonl does not match its SHA-256 in the manifest"), std::string::npos)
      << all(*r);
  EXPECT_NE(all(*r).find("record seq 2 (user.add, "), std::string::npos) << all(*r);
}

TEST_F(PackTest, AnUnsignedTailAndALateSignatureAreNamed) {
  add("a", {}, kT0);
  sign(kT0 + 10 * 60 * kSecond);  // ten minutes later, with a 60 s interval
  add("b", {}, kT0 + 11 * 60 * kSecond);
  auto r = check(write());
  ASSERT_TRUE(r);
  EXPECT_NE(all(*r).find("records seq 2..2 are not covered by any signed checkpoint"), std::string::npos) << all(*r);
  EXPECT_NE(all(*r).find("records seq 1 waited up to 10m for a signature"), std::string::npos) << all(*r);
  VerifyOptions lenient;
  lenient.max_signing_delay = 3600 * kSecond;
  auto r2 = check(write(), lenient);
  EXPECT_EQ(all(*r2).find("waited"), std::string::npos) << all(*r2);
}

TEST_F(PackTest, AForgedCheckpointSignatureIsNamed) {
  add("a", {}, kT0);
  sign(kT0 + kSecond);
  cps_.back().ts += 1;  // the signature no longer covers what it says
  auto r = check(write());
  ASSERT_TRUE(r);
  EXPECT_NE(
      all(*r).find("checkpoint at seq 1 (" + format_utc_seconds(kT0 + kSecond) + ") does not carry a valid signature"),
      std::string::npos)
      << all(*r);
}

TEST_F(PackTest, AGrantUsedBeforeConsentAndASessionOutsideItsWindowAreNamed) {
  add("elevation.request", {{"request_id", "REQ-1"}}, kT0, "", "bob");
  add("grant.start",
      {{"request_id", "REQ-1"},
       {"grant_id", "GRT-1"},
       {"customer", "acme"},
       {"user", "bob"},
       {"starts_at", format_utc(kT0 + kSecond)},
       {"ends_at", format_utc(kT0 + 60 * kSecond)}},
      kT0 + kSecond, "", "carol");
  add("session.start", {{"grant_id", "GRT-1"}}, kT0 + 2 * kSecond, "S-1", "bob");
  sign(kT0 + 3 * kSecond);
  std::string sessions = R"({"id":"S-1","user":"bob","target":"","login":"","grant_id":"GRT-1","started_at_us":)" +
                         std::to_string(kT0 + 2 * kSecond) + R"(,"recordings":[]})" + "\n" +
                         R"({"id":"S-2","user":"bob","target":"","login":"","grant_id":"GRT-1","started_at_us":)" +
                         std::to_string(kT0 + 3600 * kSecond) + R"(,"recordings":[]})" + "\n";
  std::string grants = R"({"grant_id":"GRT-1","starts_at_us":)" + std::to_string(kT0 + kSecond) + R"(,"ends_at_us":)" +
                       std::to_string(kT0 + 7200 * kSecond) + "}\n";
  auto r = check(write(sessions, grants));
  ASSERT_TRUE(r);
  const std::string x = all(*r);
  EXPECT_NE(x.find("grant GRT-1 (request REQ-1): no consent record of customer acme before its first session (seq 3)"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("session S-2 (bob to @, " + format_utc_seconds(kT0 + 3600 * kSecond) + ") started at " +
                   format_utc(kT0 + 3600 * kSecond) + " under grant GRT-1, outside the grant's window"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("session S-2 (bob to @"), std::string::npos) << x;
  EXPECT_NE(x.find("grant GRT-1: the database says it ends at"), std::string::npos) << x;
}

TEST_F(PackTest, LeaversNeedTheirRevocationRecordAndShowTheirLatency) {
  add("hr.leaver", {{"event_id", "hr-1"}, {"plan", "leave"}, {"user", "gina"}}, kT0 + 2 * kSecond);
  add("hr.leaver", {{"event_id", "hr-2"}, {"plan", "nothing"}}, kT0 + 3 * kSecond);
  sign(kT0 + 4 * kSecond);
  auto leaver = [](const std::string& ev, Micros effective, Micros revoked) {
    return nlohmann::json{
               {"event_id", ev}, {"user", "gina"}, {"effective_at_us", effective}, {"revoked_at_us", revoked}}
               .dump() +
           "\n";
  };
  leavers_ = leaver("hr-1", kT0, kT0 + 2 * kSecond) + leaver("hr-2", kT0, kT0 + 3 * kSecond) +
             leaver("hr-3", kT0, kT0 + 3 * kSecond);
  auto r = check(write());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->leavers, 2);  // hr-1, and hr-3 (claimed, without a record)
  EXPECT_DOUBLE_EQ(r->latency_max_s, 2.0);
  EXPECT_NE(all(*r).find("leaver gina (HR event hr-3) has no revocation record (hr.leaver) in the chain"),
            std::string::npos)
      << all(*r);
  EXPECT_EQ(all(*r).find("hr-2"), std::string::npos) << all(*r);  // a signed "nothing to revoke": a note
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("hr-2"), std::string::npos);
  leavers_ = leaver("hr-2", kT0, kT0 + 3 * kSecond);
  auto r2 = check(write());
  EXPECT_NE(all(*r2).find("the revocation of gina (HR event hr-1, seq 1) is missing from review/leavers.jsonl"),
            std::string::npos)
      << all(*r2);
}

TEST_F(PackTest, ALineThatIsNotJsonIsNamedNotSkipped) {
  add("a", {}, kT0);
  sign(kT0 + kSecond);
  auto r = check(write("{\"id\":\"S-9\"\nnot json\n"));
  ASSERT_TRUE(r);
  EXPECT_NE(all(*r).find("sessions/sessions.jsonl line 1: not a JSON object"), std::string::npos) << all(*r);
  EXPECT_NE(all(*r).find("sessions/sessions.jsonl line 2: not a JSON object"), std::string::npos) << all(*r);
}

TEST_F(PackTest, AKeyRotationIsFollowedAndEitherKeyMayBeExpected) {
  add("a", {}, kT0);
  sign(kT0 + kSecond);
  auto k2 = Ed25519Key::create((dir_ / "audit_key_2").string());
  ASSERT_TRUE(k2);
  add("audit.key_rotate",
      {{"old_key", base64_encode(key_->public_key())}, {"new_key", base64_encode(k2->public_key())}},
      kT0 + 2 * kSecond);
  sign(kT0 + 2 * kSecond, base64_encode(k2->public_key()));  // by the old key, naming the new
  const std::string old_fp = audit_key_fingerprint(key_->public_key());
  next_key_ = std::make_unique<Ed25519Key>(std::move(*k2));
  add("b", {}, kT0 + 3 * kSecond);
  sign(kT0 + 3 * kSecond);
  VerifyOptions o;
  o.expect_keys = {old_fp};
  auto r = check(write(), o);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << all(*r);
  EXPECT_EQ(r->rotations, 1);
  EXPECT_EQ(r->key_fingerprint, audit_key_fingerprint(next_key_->public_key()));
  EXPECT_EQ(r->earlier_keys, std::vector<std::string>{old_fp});
  EXPECT_TRUE(r->expected_key_matched);
  // The new key signing before the rotation named it: caught.
  cps_[0].signature = cps_[2].signature;
  auto r2 = check(write());
  EXPECT_NE(all(*r2).find("checkpoint at seq 1"), std::string::npos) << all(*r2);
}

TEST_F(PackTest, APackAfterARetentionCutStartsAtItsSignedAnchor) {
  for (int i = 0; i < 6; ++i) add("r", {{"i", i}}, kT0 + i * kSecond);
  sign(kT0 + 6 * kSecond);
  // Records 1..4 purged: the purge checkpoint names record 4's hash.
  Checkpoint cut{4, records_[3].hash, kT0 + 7 * kSecond, "purge", "", ""};
  cut.signature = base64_encode(*key_->sign(as_bytes(checkpoint_message(cut))));
  records_.erase(records_.begin(), records_.begin() + 4);
  purge_ = nlohmann::json{{"newest", {{"seq", 4}, {"purged_at", format_utc(cut.ts)}, {"cut_at", checkpoint_json(cut)}}}}
               .dump();
  auto r = check(write());
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << all(*r);
  EXPECT_NE(r->start.find("the retention cut at seq 4"), std::string::npos) << r->start;
  // A forged anchor (not signed by the audit key) explains nothing.
  cut.signature = base64_encode(std::vector<uint8_t>(64, 1));
  purge_ = nlohmann::json{{"newest", {{"seq", 4}, {"purged_at", format_utc(cut.ts)}, {"cut_at", checkpoint_json(cut)}}}}
               .dump();
  auto r2 = check(write());
  EXPECT_NE(all(*r2).find("the retention cut at seq 4 is not signed by an audit key the pack shows"), std::string::npos)
      << all(*r2);
  // Without an anchor, the gap before seq 5 is an exception.
  purge_ = "{\"newest\":null}";
  auto r3 = check(write());
  EXPECT_NE(all(*r3).find("the pack starts at seq 5 without the record before it"), std::string::npos) << all(*r3);
}

TEST_F(PackTest, EntriesOutsideTheManifestAndMissingOnesAreNamed) {
  add("a", {}, kT0);
  sign(kT0 + kSecond);
  Entries e = entries(write());
  e.insert(e.end() - 2, {"extra.txt", "hello"});
  std::erase_if(e, [](const auto& x) { return x.first == kLeavers; });
  auto r = check(rewrite(e));
  ASSERT_TRUE(r);
  EXPECT_NE(all(*r).find("extra.txt is in the archive but not in the manifest"), std::string::npos) << all(*r);
  EXPECT_NE(all(*r).find("review/leavers.jsonl is in the manifest but not in the archive"), std::string::npos)
      << all(*r);
}

TEST_F(PackTest, WhatIsNotAPackIsAnErrorAndControlCharactersNeverReachTheTerminal) {
  std::string junk = (dir_ / "junk").string();
  std::ofstream(junk) << "not a tar file at all";
  auto r = check(junk);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a readable evidence pack"), std::string::npos) << r.error().message;
  Entries none = {{"README.txt", "x"}};
  auto r2 = check(rewrite(none));
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("no MANIFEST.json"), std::string::npos) << r2.error().message;

  add("evil\x1b]0;pwned\x07\naction", {}, kT0);
  sign(kT0 + kSecond);
  Entries e = entries(write());
  for (auto& [name, data] : e) {
    if (name == kRecords) data.replace(data.find("\\u001b"), 6, "\\u001c");
  }
  auto r3 = check(rewrite(e));
  ASSERT_TRUE(r3);
  ASSERT_FALSE(r3->ok());
  for (const auto& x : r3->exceptions) {
    for (char c : x) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << x;
  }
  EXPECT_NE(summary_text(*r3).find("evil?]0;pwned??action"), std::string::npos) << summary_text(*r3);
}

TEST(RedactConfig, PasswordsGoPathsStay) {
  int removed = 0;
  std::string out = redact_config(
      "[state]\n"
      "database = \"postgresql://bastion:s3cret@db.example/bastion?sslmode=verify-full\"\n"
      "other = \"host=db user=bastion password=hunter2 dbname=b\"\n"
      "smtp_password = \"p@ss\"\n"
      "audit_signing_key = \"audit_signing_key\"\n"
      "# database = \"postgresql://user@host/db\"\n",
      removed);
  EXPECT_EQ(removed, 3);
  EXPECT_EQ(out.find("s3cret"), std::string::npos) << out;
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
  EXPECT_EQ(out.find("p@ss"), std::string::npos) << out;
  EXPECT_NE(out.find("postgresql://bastion:(removed)@db.example/bastion?sslmode=verify-full"), std::string::npos)
      << out;
  EXPECT_NE(out.find("audit_signing_key = \"audit_signing_key\""), std::string::npos) << out;
  EXPECT_NE(out.find("# database = \"postgresql://user@host/db\""), std::string::npos) << out;
}

}  // namespace
}  // namespace bastion::evidence
