// End-to-end: YubiKey-backed MFA the gateway verifies itself. Attested key
// enrollment (ssh-keygen -O write-attestation, checked against the trusted
// roots and AAGUIDs) and the WebAuthn step-up during an SSH login, approved in
// headless Chromium with a virtual authenticator (tests/browser/webauthn.mjs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "vault_suite.h"

namespace bastion::e2e {
namespace {

class StepUp : public VaultSuite<StepUp> {
 protected:
  static void SetUpTestSuite() {
    VaultSuite<StepUp>::SetUpTestSuite();
    d->ctl_ok({"role", "add", "vault-daily", "--targets", "tier=vault", "--logins", d->login(), "--step-up", "1h"});
  }
};

TEST_F(StepUp, RegistrationInTheBrowserThenALoginThatNeedsAStepUp) {
  SshKeyFiles key = d->add_person("paula", {"vault"});
  std::string url = d->ctl_ok({"user", "invite", "paula"});
  ASSERT_EQ(url.rfind(d->public_url() + "/invite/", 0), 0u) << url;
  url.pop_back();
  std::string state = d->dir() + "/webauthn_paula.json";
  auto reg = d->browser("register", url, state);
  ASSERT_EQ(reg.exit_code, 0) << reg.out << reg.err;
  // The invitation is single use.
  EXPECT_NE(d->browser("register", url, d->dir() + "/webauthn_other.json").exit_code, 0);
  // The key waits for confirmation (invite_test.cpp); here an administrator gives it.
  auto pending = nlohmann::json::parse(d->ctl_ok({"user", "show", "paula", "--json"}));
  ASSERT_EQ(pending["webauthn_credentials"].size(), 1u) << pending.dump();
  ASSERT_EQ(pending["webauthn_credentials"][0]["state"], "pending");
  d->ctl_ok({"user", "confirm-key", "--", "paula", pending["webauthn_credentials"][0]["id"].get<std::string>()});

  std::string step_url;
  auto r = d->ssh_with_step_up(key, vault(), {"echo", "stepped-up"}, state, true, true, &step_url);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("stepped-up"), std::string::npos) << r.out;
  EXPECT_NE(step_url.find("/mfa/"), std::string::npos) << r.out;
  // per-session: the next login needs another one.
  std::string again;
  auto r2 = d->ssh_with_step_up(key, vault(), {"true"}, state, true, true, &again);
  EXPECT_EQ(r2.exit_code, 0) << r2.out << r2.err;
  EXPECT_FALSE(again.empty());
  EXPECT_NE(again, step_url);
  // The used link is dead.
  auto replay = d->browser("approve", step_url, state);
  EXPECT_NE(replay.exit_code, 0) << replay.out;

  auto shown = nlohmann::json::parse(d->ctl_ok({"user", "show", "paula", "--json"}));
  ASSERT_EQ(shown["webauthn_credentials"].size(), 1u) << shown.dump();
  EXPECT_EQ(shown["webauthn_credentials"][0]["state"], "active");
  EXPECT_FALSE(shown["last_step_up"].get<std::string>().empty());
  EXPECT_TRUE(shown["keys"][0]["attested"].get<bool>());
  EXPECT_FALSE(audit("webauthn.register").empty());
  int verified = 0;
  for (const auto& e : audit("webauthn.step_up")) verified += e["outcome"] == "allow";
  EXPECT_GE(verified, 2);
}

TEST_F(StepUp, ATouchlessSignatureGetsNoFurtherThanTheStepUp) {
  SshKeyFiles key = d->add_person("tom", {"vault"});
  std::string state = d->register_webauthn("tom");
  Env touchless = {{"BASTION_SOFTKEY_FLAGS", "none"}};
  // libssh accepts the touchless signature (DESIGN.md), and the login stops at the step-up.
  std::string url;
  auto stopped = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, state, false, true, &url, touchless);
  EXPECT_FALSE(url.empty()) << stopped.out;
  EXPECT_EQ(stopped.exit_code, 255) << stopped.out;
  EXPECT_EQ(stopped.out.find("inside"), std::string::npos);
  EXPECT_NE(stopped.out.find("no security-key step-up within 15s"), std::string::npos) << stopped.out;
  // A person who does touch the key and enter the PIN in the browser gets in.
  auto through = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, state, true, true, nullptr, touchless);
  EXPECT_EQ(through.exit_code, 0) << through.out << through.err;
}

TEST_F(StepUp, UserVerificationOffIsDenied) {
  SshKeyFiles key = d->add_person("uma", {"vault"});
  std::string state = d->register_webauthn("uma");
  auto r = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, state, true, false);
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_EQ(r.out.find("inside"), std::string::npos);
  EXPECT_NE(r.err.find("failed"), std::string::npos) << r.err;  // the browser reports the refusal
}

TEST_F(StepUp, AFreshStepUpCoversLoginsWithinTheRoleWindow) {
  SshKeyFiles key = d->add_person("wes", {"vault-daily"});
  std::string state = d->register_webauthn("wes");
  auto first = d->ssh_with_step_up(key, vault(), {"true"}, state);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto second = d->ssh(key, vault(), {"echo", "no-prompt"});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err.find("/mfa/"), std::string::npos) << second.err;
}

TEST_F(StepUp, NoRegisteredCredentialMeansDenyWithTheWayOut) {
  SshKeyFiles key = d->add_person("nina", {"vault"});
  auto r = d->ssh(key, vault(), {"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(
      r.err.find("nina has no registered WebAuthn credential (ask an administrator: bastionctl user invite nina)"),
      std::string::npos)
      << r.err;
}

TEST_F(StepUp, ACounterThatGoesBackLocksTheCredential) {
  SshKeyFiles key = d->add_person("cora", {"vault"});
  std::string state = d->register_webauthn("cora");
  std::string before = read_text(state);
  ASSERT_EQ(d->ssh_with_step_up(key, vault(), {"true"}, state).exit_code, 0);
  ASSERT_EQ(d->ssh_with_step_up(key, vault(), {"true"}, state).exit_code, 0);
  // A clone of the authenticator as it was at registration.
  write_text(state, before, 0600);
  auto r = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, state);
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_NE(r.out.find("counter regression"), std::string::npos) << r.out;
  auto shown = nlohmann::json::parse(d->ctl_ok({"user", "show", "cora", "--json"}));
  EXPECT_EQ(shown["webauthn_credentials"][0]["state"], "locked") << shown.dump();
  EXPECT_FALSE(audit("webauthn.alert").empty());
  // Locked stays locked, even for the real authenticator.
  EXPECT_EQ(d->ssh(key, vault(), {"true"}).exit_code, 255);
}

// Attested enrollment: every refusal names its reason.
class Attestation : public DeploymentTest<Attestation> {
 protected:
  static void SetUpTestSuite() {
    DeploymentTest<Attestation>::SetUpTestSuite();
    d->ctl_ok({"user", "add", "kim"});
  }
  // ssh-keygen with the softkey attesting; `challenge` from the gateway or not.
  static SshKeyFiles keygen(const std::string& name, const std::string& challenge, Env env = {}) {
    std::string path = d->dir() + "/att_key_" + name;
    Env e = d->attesting_softkey_env();
    for (const auto& [k, v] : env) e[k] = v;
    auto r = run({"ssh-keygen", "-q", "-t", "ed25519-sk", "-w", BASTION_SOFTKEY_PATH, "-N", "", "-O",
                  "challenge=" + challenge, "-O", "write-attestation=" + path + ".att", "-f", path},
                 e);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return {path, path + ".pub"};
  }
  static std::string challenge(const std::string& name) {
    std::string f = d->dir() + "/challenge_" + name;
    d->ctl_ok({"key", "challenge", "kim", "--out", f});
    return f;
  }
  static std::string add_err(const SshKeyFiles& k, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"key", "add", "kim", k.pub, "--attestation", k.priv + ".att"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = d->ctl(args);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    return r.err;
  }
};

TEST_F(Attestation, RefusalsNameTheirReasonAndChangeNothing) {
  // No attestation at all.
  SshKeyFiles plain = d->make_sk_key("kim-plain");
  auto none = d->ctl({"key", "add", "kim", plain.pub});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("refusing a key without attestation for kim"), std::string::npos) << none.err;

  // A challenge the gateway never issued.
  std::string forged = d->dir() + "/forged_challenge";
  write_text(forged, std::string(32, 'x'));
  SshKeyFiles k1 = keygen("k1", forged);
  EXPECT_NE(add_err(k1, {"--challenge", forged}).find("wrong challenge: it was not issued by this gateway"),
            std::string::npos);

  // A certificate from a CA nobody trusts.
  std::string dir = d->dir();
  ASSERT_EQ(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 dir + "/rogue.key", "-out", dir + "/rogue.pem", "-days", "2", "-subj", "/CN=rogue"})
                .exit_code,
            0);
  SshKeyFiles k2 =
      keygen("k2", challenge("k2"),
             {{"BASTION_SOFTKEY_ATTEST_KEY", dir + "/rogue.key"}, {"BASTION_SOFTKEY_ATTEST_CERT", dir + "/rogue.pem"}});
  EXPECT_NE(add_err(k2).find("untrusted root"), std::string::npos);

  // An authenticator model that is not on the allow-list.
  d->ctl_ok({"fido", "aaguids", "remove", Deployment::kSoftkeyAaguid});
  SshKeyFiles k3 = keygen("k3", challenge("k3"));
  EXPECT_NE(add_err(k3).find("AAGUID not allowed"), std::string::npos);
  d->ctl_ok({"fido", "aaguids", "add", Deployment::kSoftkeyAaguid});

  // Authenticator data that disagrees with the certificate's AAGUID extension.
  SshKeyFiles k4 = keygen("k4", challenge("k4"), {{"BASTION_SOFTKEY_AAGUID", "cb69481e-8ff7-4039-93ec-0a2729a154a8"}});
  EXPECT_NE(add_err(k4).find("AAGUID mismatch"), std::string::npos);

  // The attestation of one key presented with another.
  SshKeyFiles k5 = keygen("k5", challenge("k5"));
  SshKeyFiles k6 = keygen("k6", challenge("k6"));
  auto swapped = d->ctl({"key", "add", "kim", k6.pub, "--attestation", k5.priv + ".att"});
  EXPECT_EQ(swapped.exit_code, 1);
  EXPECT_NE(swapped.err.find("key mismatch"), std::string::npos) << swapped.err;

  auto keys = nlohmann::json::parse(d->ctl_ok({"key", "list", "--user", "kim", "--json"}));
  EXPECT_TRUE(keys.empty()) << keys.dump();  // nothing was enrolled

  // The good one, and then its challenge is spent.
  std::string c = challenge("good");
  SshKeyFiles good = keygen("good", c);
  auto ok = d->ctl({"key", "add", "kim", good.pub, "--attestation", good.priv + ".att"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find(std::string("attested (AAGUID ") + Deployment::kSoftkeyAaguid), std::string::npos) << ok.out;
  SshKeyFiles again = keygen("again", c);
  EXPECT_NE(add_err(again, {"--challenge", c}).find("wrong challenge: it has already been used"), std::string::npos);
  auto rec = nlohmann::json::parse(d->ctl_ok({"audit", "search", "attestation refused", "--json"}));
  EXPECT_GE(rec.size(), 5u);
}

TEST_F(Attestation, FreshInitTrustsTheYubicoRootsAndYubiKeyModels) {
  auto roots = nlohmann::json::parse(d->ctl_ok({"fido", "roots", "list", "--json"}));
  bool u2f = false, root1 = false;
  for (const auto& r : roots) {
    u2f = u2f || r["sha256"] == "0fa1386f80eb8713263ae5c1d84deb455bdf08aea50ab05503cefee82b092d42";
    root1 = root1 || r["sha256"] == "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8";
  }
  EXPECT_TRUE(u2f && root1) << roots.dump();
  auto ids = d->ctl_ok({"fido", "aaguids", "list"});
  EXPECT_NE(ids.find("cb69481e-8ff7-4039-93ec-0a2729a154a8"), std::string::npos) << ids;
  auto bad = d->ctl({"fido", "aaguids", "add", "not-a-uuid"});
  EXPECT_EQ(bad.exit_code, 1);
}

}  // namespace
}  // namespace bastion::e2e
