// End-to-end: consent binding for invitations (issue 13). An invitation link
// is a bearer token, so the security key registered with it is pending until
// the person confirms it with their own SSH key and the code the page showed
// (command mode `confirm-key`), or an administrator confirms it (bastionctl
// user confirm-key). Until then it approves nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "vault_suite.h"

namespace bastion::e2e {
namespace {

class Invite : public VaultSuite<Invite> {
 protected:
  // The audit records of `action` by `actor` with `outcome`.
  static std::vector<nlohmann::json> audit_of(const std::string& action, const std::string& actor,
                                              const std::string& outcome) {
    std::vector<nlohmann::json> out;
    for (const auto& e : audit(action)) {
      if (e.value("actor", "") == actor && e.value("outcome", "") == outcome) out.push_back(e);
    }
    return out;
  }
  static nlohmann::json credentials(const std::string& name) {
    return nlohmann::json::parse(d->ctl_ok({"user", "show", name, "--json"}))["webauthn_credentials"];
  }
};

TEST_F(Invite, ThePageNamesThePersonTheInviterAndTheExpiry) {
  SshKeyFiles key = d->add_person("vera", {"vault"});
  d->ctl_ok({"user", "set", "vera", "--email", "vera@example.com"});
  auto k = d->register_webauthn_pending("vera");
  EXPECT_NE(k.page_text.find("This registers a security key for vera@example.com (vera)."), std::string::npos)
      << k.page_text;
  EXPECT_NE(k.page_text.find("Invitation from admin:"), std::string::npos) << k.page_text;
  EXPECT_NE(k.page_text.find("valid until 20"), std::string::npos) << k.page_text;
  EXPECT_NE(k.page_text.find("works only once you confirm it"), std::string::npos) << k.page_text;
  EXPECT_EQ(k.code.size(), 9u) << k.page_text;
}

// (a) A key from an invitation cannot approve a step-up until it is confirmed.
TEST_F(Invite, APendingKeyApprovesNoStepUpUntilConfirmed) {
  SshKeyFiles key = d->add_person("ivy", {"vault"});
  auto k = d->register_webauthn_pending("ivy");
  ASSERT_EQ(credentials("ivy")[0]["state"], "pending");

  auto denied = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, k.state);
  EXPECT_EQ(denied.exit_code, 255) << denied.out;
  EXPECT_EQ(denied.out.find("inside"), std::string::npos);
  EXPECT_NE(denied.out.find("registered but not yet confirmed"), std::string::npos) << denied.out;
  // The step-up page said so, and how to confirm.
  EXPECT_NE(denied.err.find("not yet confirmed"), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("confirm-key"), std::string::npos) << denied.err;
  bool login_denied = false;
  for (const auto& e : audit_of("auth.step_up", "ivy", "deny")) {
    login_denied = login_denied || e.value("reason", "").find("not yet confirmed") != std::string::npos;
  }
  EXPECT_TRUE(login_denied) << audit("auth.step_up").dump();
  EXPECT_EQ(credentials("ivy")[0]["state"], "pending");  // still

  // Confirmed with ivy's own SSH key and the code: now it works.
  auto confirmed = d->ssh(key, "ivy", {"confirm-key", k.code});
  ASSERT_EQ(confirmed.exit_code, 0) << confirmed.out << confirmed.err;
  EXPECT_NE(confirmed.out.find("confirmed"), std::string::npos) << confirmed.out;
  auto through = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, k.state);
  EXPECT_EQ(through.exit_code, 0) << through.out << through.err;
  EXPECT_NE(through.out.find("inside"), std::string::npos) << through.out;
}

// (b) Only the person's own SSH key with the right code confirms; the rest is refused and audited.
TEST_F(Invite, OnlyTheOwnersSshKeyWithTheRightCodeConfirms) {
  SshKeyFiles jo = d->add_person("jo", {"vault"});
  SshKeyFiles ken = d->add_person("ken", {"vault"});
  auto k = d->register_webauthn_pending("jo");

  auto wrong = d->ssh(jo, "jo", {"confirm-key", "AAAA-AAAA"});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out << wrong.err;
  EXPECT_NE((wrong.out + wrong.err).find("wrong confirmation code"), std::string::npos) << wrong.out << wrong.err;
  auto other = d->ssh(ken, "ken", {"confirm-key", k.code});
  EXPECT_EQ(other.exit_code, 1) << other.out << other.err;
  EXPECT_NE((other.out + other.err).find("not for a security key of ken"), std::string::npos) << other.out << other.err;
  EXPECT_EQ(credentials("jo")[0]["state"], "pending");
  // Both refusals are in the audit log; ken's names whose code it was.
  EXPECT_EQ(audit_of("webauthn.confirm", "jo", "deny").size(), 1u) << audit("webauthn.confirm").dump();
  auto kens = audit_of("webauthn.confirm", "ken", "deny");
  ASSERT_EQ(kens.size(), 1u) << audit("webauthn.confirm").dump();
  EXPECT_EQ(kens[0]["details"].value("code_of", ""), "jo") << kens[0].dump();

  auto ok = d->ssh(jo, "jo", {"confirm-key", k.code});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto creds = credentials("jo");
  EXPECT_EQ(creds[0]["state"], "active");
  EXPECT_EQ(creds[0].value("confirmed_by", "").rfind("ssh-key SHA256:", 0), 0u) << creds.dump();
  EXPECT_EQ(audit_of("webauthn.confirm", "jo", "allow").size(), 1u);
  // The code is single use.
  EXPECT_EQ(d->ssh(jo, "jo", {"confirm-key", k.code}).exit_code, 1);
}

// (c) An administrator confirms or rejects; `user show` lists what is pending.
TEST_F(Invite, AnAdministratorConfirmsOrRejectsAPendingKey) {
  SshKeyFiles key = d->add_person("ada", {"vault"});
  auto first = d->register_webauthn_pending("ada", d->dir() + "/webauthn_ada_1.json");
  auto second = d->register_webauthn_pending("ada", d->dir() + "/webauthn_ada_2.json");
  std::string shown = d->ctl_ok({"user", "show", "ada"});
  EXPECT_NE(shown.find(first.credential_id + "  ES256  PENDING CONFIRMATION"), std::string::npos) << shown;
  EXPECT_NE(shown.find(second.credential_id + "  ES256  PENDING CONFIRMATION"), std::string::npos) << shown;
  EXPECT_NE(shown.find("registered 20"), std::string::npos) << shown;
  EXPECT_NE(shown.find("confirm: bastionctl user confirm-key " +
                       std::string(first.credential_id[0] == '-' ? "-- " : "") + "ada " + first.credential_id),
            std::string::npos)
      << shown;

  // Not someone else's, not a made-up one.
  EXPECT_EQ(d->ctl({"user", "confirm-key", "--", "ivy-nobody", first.credential_id}).exit_code, 1);
  EXPECT_EQ(d->ctl({"user", "confirm-key", "ada", "AAAAAAAAAAAA"}).exit_code, 1);

  d->ctl_ok({"user", "confirm-key", "--", "ada", first.credential_id});
  d->ctl_ok({"user", "reject-key", "--", "ada", second.credential_id});
  shown = d->ctl_ok({"user", "show", "ada"});
  EXPECT_EQ(shown.find("PENDING"), std::string::npos) << shown;
  auto creds = credentials("ada");
  ASSERT_EQ(creds.size(), 1u) << creds.dump();  // the rejected one is gone
  EXPECT_EQ(creds[0]["id"], first.credential_id);
  EXPECT_EQ(creds[0]["state"], "active");
  EXPECT_EQ(creds[0].value("confirmed_by", "").rfind("admin:", 0), 0u) << creds.dump();
  // Only a pending key can be rejected; the audit log has both decisions.
  EXPECT_EQ(d->ctl({"user", "reject-key", "--", "ada", first.credential_id}).exit_code, 1);
  bool confirmed = false, rejected = false, refused = false, refused_confirm = false;
  for (const auto& e : audit("webauthn.confirm")) {
    confirmed = confirmed || (e["outcome"] == "allow" && e["details"].value("user", "") == "ada");
    refused_confirm =
        refused_confirm || (e["outcome"] == "deny" && e["details"].value("credential", "") == "AAAAAAAAAAAA");
  }
  EXPECT_TRUE(refused_confirm) << audit("webauthn.confirm").dump();
  for (const auto& e : audit("webauthn.reject")) {
    rejected = rejected || (e["outcome"] == "allow" && e["details"].value("credential_id", "") == second.credential_id);
    refused = refused || (e["outcome"] == "deny" && e["details"].value("user", "") == "ada");
  }
  EXPECT_TRUE(confirmed && rejected && refused) << audit("webauthn.confirm").dump() << audit("webauthn.reject").dump();

  // The confirmed key approves a step-up; the rejected one's authenticator does not.
  auto ok = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, first.state);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto no = d->ssh_with_step_up(key, vault(), {"echo", "inside"}, second.state);
  EXPECT_EQ(no.exit_code, 255) << no.out;
}

}  // namespace
}  // namespace bastion::e2e
