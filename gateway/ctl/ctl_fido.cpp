// bastionctl fido roots|aaguids, key challenge, key add --attestation, user
// invite: the administrator's half of attested enrollment and WebAuthn.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "authn/fido_verify.h"
#include "authn/mfa_store.h"
#include "common/files.h"
#include "gateway/ctl/ctl.h"
#include "gateway/ctl/ctl_fido.h"

namespace bastion::gateway {
namespace {

Result<std::string> read_all(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (data.size() > max) return make_error(path + ": larger than " + std::to_string(max) + " bytes");
  return data;
}

nlohmann::json attestation_json(const authn::AttestationInfo& a) {
  return {{"format", a.format}, {"aaguid", a.aaguid}, {"subject", a.subject}, {"chain", a.chain_pem}};
}

// Verifies `blob` against the challenges issued for `user`; consumes the one
// that verifies.
Result<authn::AttestationInfo> verify_against_challenges(Services& s, const std::string& user,
                                                         const authn::PublicKey& key, const std::string& blob,
                                                         const std::string& challenge_file) {
  auto trust = s.mfa().trust();
  if (!trust) return trust.error();
  std::vector<std::string> candidates;
  if (!challenge_file.empty()) {
    auto c = read_all(challenge_file, 4096);
    if (!c) return c.error();
    candidates.push_back(*c);
  } else {
    auto open = s.mfa().open_key_challenges(user);
    if (!open) return open.error();
    if (open->empty()) {
      return make_error(ErrorCode::kWrongChallenge, "wrong challenge: no unused challenge was issued for " + user +
                                                        " in the last 15 minutes (bastionctl key challenge " + user +
                                                        " --out FILE)");
    }
    candidates = *open;
  }
  Error last{"no challenge"};
  for (const auto& c : candidates) {
    auto info = authn::verify_sk_attestation(blob, key, c, *trust);
    if (info) {
      if (auto st = s.mfa().consume_key_challenge(user, c); !st) return st.error();
      return info;
    }
    last = info.error();
    // Errors that do not depend on the challenge are final.
    if (last.code != ErrorCode::kBadSignature && last.code != ErrorCode::kWrongChallenge) return last;
  }
  if (challenge_file.empty() && candidates.size() >= 1 && last.code == ErrorCode::kBadSignature) {
    return make_error(ErrorCode::kBadSignature,
                      last.message + " (or the key was made with a challenge this gateway did not issue for " + user +
                          "; pass --challenge FILE to check one)");
  }
  return last;
}

}  // namespace

int enroll_key(CtlGlobals& g, Services& s, const KeyAddArgs& a) {
  auto pk = authn::read_public_key_file(a.file);
  if (!pk) return ctl_fail(a.file + ": " + pk.error().message);
  auto person = s.policy().find_person(a.user);
  if (!person) return ctl_fail(person.error().message);
  if (!*person) return ctl_fail("no such user: " + a.user);
  bool service = (*person)->service_account;
  if (!authn::is_security_key(pk->type) && !service) {
    return ctl_fail("refusing " + pk->type + " key for " + a.user +
                    ": people must use a FIDO2 security key (sk-ssh-ed25519@openssh.com or "
                    "sk-ecdsa-sha2-nistp256@openssh.com); plain keys only for service accounts "
                    "(user add --service-account)");
  }
  if (a.no_attestation && !a.attestation.empty()) {
    g.exit_code = kExitUsage;
    ctl_fail("--attestation and --no-attestation exclude each other");
    return kExitUsage;
  }
  if (a.no_attestation && !service) {
    return ctl_fail("--no-attestation is only for service accounts; " + a.user +
                    " is a person: enrol with --attestation FILE (see bastionctl key challenge)");
  }
  std::string att_json, aaguid;
  nlohmann::json details;
  if (!a.attestation.empty()) {
    auto blob = read_all(a.attestation, 64 * 1024);
    if (!blob) return ctl_fail(blob.error().message);
    auto info = verify_against_challenges(s, a.user, *pk, *blob, a.challenge);
    if (!info) {
      ctl_audit(s, "key.add", "attestation refused: " + info.error().message,
                {{"user", a.user}, {"fingerprint", authn::fingerprint_sha256(pk->blob)}, {"outcome", "deny"}});
      return ctl_fail("attestation refused: " + info.error().message);
    }
    att_json = attestation_json(*info).dump();
    aaguid = info->aaguid;
    details["attestation"] = {{"format", info->format}, {"aaguid", info->aaguid}, {"subject", info->subject},
                              {"chain", info->chain_pem}};
  } else if (!service && s.config().require_attestation) {
    // SECURITY: without an attestation nothing says the key lives on a
    // genuine, allowed authenticator (a software key could pose as one).
    return ctl_fail("refusing a key without attestation for " + a.user +
                    " (require_attestation is on): create the key with ssh-keygen -O challenge=FILE "
                    "-O write-attestation=att.bin and add --attestation att.bin");
  }
  auto rec = s.keys().enroll(a.user, *pk, att_json, aaguid);
  if (!rec) return ctl_fail(rec.error().message);
  details["user"] = rec->user;
  details["fingerprint"] = rec->fingerprint;
  details["type"] = rec->type;
  ctl_audit(s, "key.add", "", details);
  std::cout << "enrolled " << rec->fingerprint << " (" << rec->type << ") for " << a.user;
  if (!aaguid.empty()) std::cout << ", attested (AAGUID " << aaguid << ")";
  std::cout << "\n";
  return 0;
}

void register_key_challenge(CLI::App* key, CtlGlobals& g) {
  auto* ch = key->add_subcommand("challenge", "issue a single-use challenge for attested key creation (valid 15 minutes)");
  auto user = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  ch->add_option("USER", *user)->required();
  ch->add_option("--out", *out, "write the 32-byte challenge to this file (for ssh-keygen -O challenge=FILE)")->required();
  ch->callback([&g, user, out] {
    auto s = ctl_open(g);
    if (!s) return;
    auto c = s->mfa().issue_key_challenge(*user);
    if (!c) {
      g.exit_code = ctl_fail(c.error().message);
      return;
    }
    if (auto st = write_file_atomic(*out, *c, 0644, false); !st) {
      g.exit_code = ctl_fail(*out + ": " + st.message());
      return;
    }
    ctl_audit(*s, "key.challenge", "", {{"user", *user}});
    std::cout << "wrote a challenge for " << *user << " to " << *out << " (valid 15 minutes, single use)\n"
              << "the person runs: ssh-keygen -t ed25519-sk -O verify-required -O challenge=" << *out
              << " -O write-attestation=attestation.bin\n";
  });
}

void register_user_invite(CLI::App* user, CtlGlobals& g) {
  auto* inv = user->add_subcommand("invite", "print a one-time URL (valid 24 h) to register a WebAuthn security key");
  auto name = std::make_shared<std::string>();
  inv->add_option("USER", *name)->required();
  inv->callback([&g, name] {
    auto s = ctl_open(g);
    if (!s) return;
    if (s->config().public_url.empty()) {
      g.exit_code = ctl_fail("the gateway has no web endpoint: set [web] public_url in the config");
      return;
    }
    auto token = s->mfa().create_invite(*name, ctl_actor());
    if (!token) {
      g.exit_code = ctl_fail(token.error().message);
      return;
    }
    ctl_audit(*s, "user.invite", "", {{"user", *name}});
    std::cout << s->config().public_url << "/invite/" << *token << "\n";
    std::fprintf(stderr,
                 "valid 24 hours, once; give it to %s only (it registers a security key for them, which then "
                 "waits for confirmation: their SSH key, or bastionctl user confirm-key)\n",
                 name->c_str());
  });
}

namespace {

// `user confirm-key` / `user reject-key`: an administrator vouches for (or
// drops) a security key registered from an invitation. Audited either way.
void decide_pending_key(CtlGlobals& g, const std::string& name, const std::string& id, bool confirm) {
  auto s = ctl_open(g);
  if (!s) return;
  const char* action = confirm ? "webauthn.confirm" : "webauthn.reject";
  auto r = confirm ? s->mfa().confirm_credential(name, id, ctl_actor()) : s->mfa().reject_credential(name, id);
  if (!r) {
    ctl_audit_denied(*s, action, r.error().message, {{"user", name}, {"credential", id}, {"method", "administrator"}});
    g.exit_code = ctl_fail(r.error().message);
    return;
  }
  ctl_audit(*s, action, confirm ? "security key confirmed by an administrator" : "pending security key rejected",
            {{"user", name},
             {"credential_id", r->id},
             {"method", "administrator"},
             {"registered_at", format_utc(r->created_at)},
             {"aaguid", r->credential.attestation.aaguid}});
  if (confirm) {
    std::cout << "confirmed security key " << r->id << " of " << name << ": it can approve step-ups now\n";
  } else {
    std::cout << "rejected and removed security key " << r->id << " of " << name
              << " (send a new invitation with: bastionctl user invite " << name << ")\n";
  }
}

}  // namespace

void register_user_key_confirmation(CLI::App* user, CtlGlobals& g) {
  for (bool confirm : {true, false}) {
    auto* cmd = user->add_subcommand(
        confirm ? "confirm-key" : "reject-key",
        confirm ? "make a security key registered from an invitation usable (check with the person first that it is "
                  "theirs: registered when, which model)"
                : "remove a security key registered from an invitation that is still waiting for confirmation");
    auto name = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>();
    cmd->add_option("NAME", *name, "user name")->required();
    cmd->add_option("CREDENTIAL_ID", *id, "the credential id from `bastionctl user show NAME` (or its first 8+ "
                                          "characters); one that starts with '-' goes after --: "
                                          "user confirm-key -- NAME -ID")
        ->required();
    cmd->callback([&g, name, id, confirm] { decide_pending_key(g, *name, *id, confirm); });
  }
}

void register_fido_commands(CLI::App& app, CtlGlobals& g) {
  auto* fido = app.add_subcommand("fido", "attestation trust: root certificates and allowed authenticator models");
  fido->require_subcommand(1);
  auto* roots = fido->add_subcommand("roots", "certificates attestations must chain to");
  roots->require_subcommand(1);
  auto* radd = roots->add_subcommand("add", "trust a PEM certificate (one per file)");
  auto file = std::make_shared<std::string>();
  auto inter = std::make_shared<bool>(false);
  radd->add_option("FILE", *file)->required();
  radd->add_flag("--intermediate", *inter, "an intermediate CA (used to build chains, not trusted by itself)");
  radd->callback([&g, file, inter] {
    auto pem = read_all(*file, 64 * 1024);
    if (!pem) {
      g.exit_code = ctl_fail(pem.error().message);
      return;
    }
    auto s = ctl_open(g);
    if (!s) return;
    auto t = s->mfa().add_trust_cert(*pem, *inter);
    if (!t) {
      g.exit_code = ctl_fail(*file + ": " + t.error().message);
      return;
    }
    ctl_audit(*s, "fido.root.add", "", {{"sha256", t->sha256}, {"subject", t->subject}, {"kind", t->kind}});
    std::cout << "trusted " << t->kind << " " << t->subject << " (sha256 " << t->sha256 << ")\n";
  });
  auto* rlist = roots->add_subcommand("list", "list trusted certificates");
  auto json = std::make_shared<bool>(false);
  rlist->add_flag("--json", *json, "machine-readable output");
  rlist->callback([&g, json] {
    ctl_list(
        g, *json, [](Services& s) { return s.mfa().trust_certs(); },
        [](const authn::TrustCert& t) {
          return nlohmann::json{{"sha256", t.sha256}, {"kind", t.kind}, {"subject", t.subject}, {"added_at", format_utc(t.added_at)}};
        },
        [](const std::vector<authn::TrustCert>& rows) {
          std::printf("%-16s %-12s %s\n", "SHA256", "KIND", "SUBJECT");
          for (const auto& t : rows) std::printf("%-16s %-12s %s\n", t.sha256.substr(0, 16).c_str(), t.kind.c_str(), t.subject.c_str());
        });
  });
  auto* rrm = roots->add_subcommand("remove", "stop trusting a certificate");
  auto what = std::make_shared<std::string>();
  rrm->add_option("CERT", *what, "the PEM file, or its SHA-256 (or the first 8+ hex digits, see fido roots list)")
      ->required();
  rrm->callback([&g, what] {
    auto s = ctl_open(g);
    if (!s) return;
    std::string key = *what;
    if (file_exists(*what)) {
      auto pem = read_all(*what, 64 * 1024);
      auto parsed = pem ? authn::parse_trust_cert(*pem) : Result<authn::TrustCert>(pem.error());
      if (!parsed) {
        g.exit_code = ctl_fail(*what + ": " + parsed.error().message);
        return;
      }
      key = parsed->sha256;
    }
    auto t = s->mfa().remove_trust_cert(key);
    if (!t) {
      g.exit_code = ctl_fail(t.error().message);
      return;
    }
    ctl_audit(*s, "fido.root.remove", "", {{"sha256", t->sha256}, {"subject", t->subject}});
    std::cout << "no longer trusted: " << t->subject << "\n";
  });

  auto* ids = fido->add_subcommand("aaguids", "authenticator models (AAGUIDs) allowed to enrol");
  ids->require_subcommand(1);
  auto* iadd = ids->add_subcommand("add", "allow an AAGUID");
  auto id = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  iadd->add_option("UUID", *id)->required();
  iadd->add_option("--name", *name, "what it is, e.g. 'YubiKey 5 NFC (5.7)'");
  iadd->callback([&g, id, name] {
    auto s = ctl_open(g);
    if (!s) return;
    auto a = s->mfa().add_aaguid(*id, *name);
    if (!a) {
      g.exit_code = ctl_fail(a.error().message);
      return;
    }
    ctl_audit(*s, "fido.aaguid.add", "", {{"aaguid", a->aaguid}, {"name", a->name}});
    std::cout << "allowed " << a->aaguid << (a->name.empty() ? "" : " (" + a->name + ")") << "\n";
  });
  auto* ilist = ids->add_subcommand("list", "list allowed AAGUIDs");
  ilist->add_flag("--json", *json, "machine-readable output");
  ilist->callback([&g, json] {
    ctl_list(
        g, *json, [](Services& s) { return s.mfa().aaguids(); },
        [](const authn::AllowedAaguid& a) { return nlohmann::json{{"aaguid", a.aaguid}, {"name", a.name}}; },
        [](const std::vector<authn::AllowedAaguid>& rows) {
          std::printf("%-38s %s\n", "AAGUID", "NAME");
          for (const auto& a : rows) std::printf("%-38s %s\n", a.aaguid.c_str(), a.name.c_str());
        });
  });
  auto* irm = ids->add_subcommand("remove", "stop allowing an AAGUID (enrolled keys stay)");
  auto rid = std::make_shared<std::string>();
  irm->add_option("UUID", *rid)->required();
  irm->callback([&g, rid] {
    auto s = ctl_open(g);
    if (!s) return;
    if (auto st = s->mfa().remove_aaguid(*rid); !st) {
      g.exit_code = ctl_fail(st.message());
      return;
    }
    ctl_audit(*s, "fido.aaguid.remove", "", {{"aaguid", *rid}});
    std::cout << "removed " << *rid << "\n";
  });
}

}  // namespace bastion::gateway
