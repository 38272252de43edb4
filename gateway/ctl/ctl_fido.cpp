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

Status check_key_add(KeyAddArgs& a) {
  if (a.no_attestation && !a.attestation.empty()) {
    return make_error("--attestation and --no-attestation exclude each other");
  }
  return {};
}

namespace {

// Refuses keys the person may not use; true for a service account.
Result<bool> check_key_owner(Services& s, const KeyAddArgs& a, const authn::PublicKey& pk) {
  auto person = s.policy().find_person(a.user);
  if (!person) return person.error();
  if (!*person) return make_error("no such user: " + a.user);
  bool service = (*person)->service_account;
  if (!authn::is_security_key(pk.type) && !service) {
    return make_error("refusing " + pk.type + " key for " + a.user +
                      ": people must use a FIDO2 security key (sk-ssh-ed25519@openssh.com or "
                      "sk-ecdsa-sha2-nistp256@openssh.com); plain keys only for service accounts "
                      "(user add --service-account)");
  }
  if (a.no_attestation && !service) {
    return make_error("--no-attestation is only for service accounts; " + a.user +
                      " is a person: enrol with --attestation FILE (see bastionctl key challenge)");
  }
  return service;
}

// Reads and verifies `key add --attestation`; a refusal is audited.
Result<authn::AttestationInfo> verify_attestation(Services& s, const KeyAddArgs& a, const authn::PublicKey& pk) {
  auto blob = read_all(a.attestation, 64 * 1024);
  if (!blob) return blob.error();
  auto info = verify_against_challenges(s, a.user, pk, *blob, a.challenge);
  if (!info) {
    ctl_audit(s, "key.add", "attestation refused: " + info.error().message,
              {{"user", a.user}, {"fingerprint", authn::fingerprint_sha256(pk.blob)}, {"outcome", "deny"}});
    return info.error().prefixed("attestation refused: ");
  }
  return info;
}

}  // namespace

Status enroll_key(Services& s, const KeyAddArgs& a) {
  auto pk = authn::read_public_key_file(a.file);
  if (!pk) return pk.error().prefixed(a.file + ": ");
  auto service = check_key_owner(s, a, *pk);
  if (!service) return service.error();
  std::string att_json, aaguid;
  nlohmann::json details;
  if (!a.attestation.empty()) {
    auto info = verify_attestation(s, a, *pk);
    if (!info) return info.error();
    att_json = attestation_json(*info).dump();
    aaguid = info->aaguid;
    details["attestation"] = {
        {"format", info->format}, {"aaguid", info->aaguid}, {"subject", info->subject}, {"chain", info->chain_pem}};
  } else if (!*service && s.config().require_attestation) {
    // SECURITY: without an attestation nothing says the key lives on a
    // genuine, allowed authenticator (a software key could pose as one).
    return make_error("refusing a key without attestation for " + a.user +
                      " (require_attestation is on): create the key with ssh-keygen -O challenge=FILE "
                      "-O write-attestation=att.bin and add --attestation att.bin");
  }
  auto rec = s.keys().enroll(a.user, *pk, att_json, aaguid);
  if (!rec) return rec.error();
  details["user"] = rec->user;
  details["fingerprint"] = rec->fingerprint;
  details["type"] = rec->type;
  ctl_audit(s, "key.add", "", details);
  std::cout << "enrolled " << rec->fingerprint << " (" << rec->type << ") for " << a.user;
  if (!aaguid.empty()) std::cout << ", attested (AAGUID " << aaguid << ")";
  std::cout << "\n";
  return {};
}

namespace {

struct ChallengeArgs {
  std::string user, out;
};

Status issue_challenge(Services& s, const ChallengeArgs& a) {
  auto c = s.mfa().issue_key_challenge(a.user);
  if (!c) return c.error();
  if (auto st = write_file_atomic(a.out, *c, 0644, false); !st) return st.error().prefixed(a.out + ": ");
  ctl_audit(s, "key.challenge", "", {{"user", a.user}});
  std::cout << "wrote a challenge for " << a.user << " to " << a.out << " (valid 15 minutes, single use)\n"
            << "the person runs: ssh-keygen -t ed25519-sk -O verify-required -O challenge=" << a.out
            << " -O write-attestation=attestation.bin\n";
  return {};
}

struct UserArgs {
  std::string user;
};

Status invite(Services& s, const UserArgs& a) {
  if (s.config().public_url.empty()) {
    return make_error("the gateway has no web endpoint: set [web] public_url in the config");
  }
  auto token = s.mfa().create_invite(a.user, ctl_actor());
  if (!token) return token.error();
  ctl_audit(s, "user.invite", "", {{"user", a.user}});
  std::cout << s.config().public_url << "/invite/" << *token << "\n";
  std::fprintf(stderr,
               "valid 24 hours, once; give it to %s only (it registers a security key for them, which then "
               "waits for confirmation: their SSH key, or bastionctl user confirm-key)\n",
               a.user.c_str());
  return {};
}

}  // namespace

void register_key_challenge(CLI::App* key, CtlGlobals& g) {
  auto* ch =
      key->add_subcommand("challenge", "issue a single-use challenge for attested key creation (valid 15 minutes)");
  auto a = std::make_shared<ChallengeArgs>();
  ch->add_option("USER", a->user)->required();
  ch->add_option("--out", a->out, "write the 32-byte challenge to this file (for ssh-keygen -O challenge=FILE)")
      ->required();
  ctl_command(ch, g, a, issue_challenge);
}

void register_user_invite(CLI::App* user, CtlGlobals& g) {
  auto* inv = user->add_subcommand("invite", "print a one-time URL (valid 24 h) to register a WebAuthn security key");
  auto a = std::make_shared<UserArgs>();
  inv->add_option("USER", a->user)->required();
  ctl_command(inv, g, a, invite);
}

namespace {

struct PendingKeyArgs {
  std::string name, id;
  bool confirm = false;
};

// `user confirm-key` / `user reject-key`: an administrator vouches for (or
// drops) a security key registered from an invitation. Audited either way.
Status decide_pending_key(Services& s, const PendingKeyArgs& a) {
  const char* action = a.confirm ? "webauthn.confirm" : "webauthn.reject";
  auto r = a.confirm ? s.mfa().confirm_credential(a.name, a.id, ctl_actor()) : s.mfa().reject_credential(a.name, a.id);
  if (!r) {
    ctl_audit_denied(s, action, r.error().message,
                     {{"user", a.name}, {"credential", a.id}, {"method", "administrator"}});
    return r.error();
  }
  ctl_audit(s, action, a.confirm ? "security key confirmed by an administrator" : "pending security key rejected",
            {{"user", a.name},
             {"credential_id", r->id},
             {"method", "administrator"},
             {"registered_at", format_utc(r->created_at)},
             {"aaguid", r->credential.attestation.aaguid}});
  if (a.confirm) {
    std::cout << "confirmed security key " << r->id << " of " << a.name << ": it can approve step-ups now\n";
  } else {
    std::cout << "rejected and removed security key " << r->id << " of " << a.name
              << " (send a new invitation with: bastionctl user invite " << a.name << ")\n";
  }
  return {};
}

struct RootAddArgs {
  std::string file;
  bool intermediate = false;
};

Status add_root(Services& s, const RootAddArgs& a) {
  auto pem = read_all(a.file, 64 * 1024);
  if (!pem) return pem.error();
  auto t = s.mfa().add_trust_cert(*pem, a.intermediate);
  if (!t) return t.error().prefixed(a.file + ": ");
  ctl_audit(s, "fido.root.add", "", {{"sha256", t->sha256}, {"subject", t->subject}, {"kind", t->kind}});
  std::cout << "trusted " << t->kind << " " << t->subject << " (sha256 " << t->sha256 << ")\n";
  return {};
}

void print_roots(const std::vector<authn::TrustCert>& rows) {
  std::printf("%-16s %-12s %s\n", "SHA256", "KIND", "SUBJECT");
  for (const auto& t : rows)
    std::printf("%-16s %-12s %s\n", t.sha256.substr(0, 16).c_str(), t.kind.c_str(), t.subject.c_str());
}

nlohmann::json root_json(const authn::TrustCert& t) {
  return {{"sha256", t.sha256}, {"kind", t.kind}, {"subject", t.subject}, {"added_at", format_utc(t.added_at)}};
}

Status list_roots(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.mfa().trust_certs(), a.json, root_json, print_roots);
}

struct CertArgs {
  std::string cert;  // a PEM file, or a SHA-256 prefix
};

Status remove_root(Services& s, const CertArgs& a) {
  std::string key = a.cert;
  if (file_exists(a.cert)) {
    auto pem = read_all(a.cert, 64 * 1024);
    auto parsed = pem ? authn::parse_trust_cert(*pem) : Result<authn::TrustCert>(pem.error());
    if (!parsed) return parsed.error().prefixed(a.cert + ": ");
    key = parsed->sha256;
  }
  auto t = s.mfa().remove_trust_cert(key);
  if (!t) return t.error();
  ctl_audit(s, "fido.root.remove", "", {{"sha256", t->sha256}, {"subject", t->subject}});
  std::cout << "no longer trusted: " << t->subject << "\n";
  return {};
}

struct AaguidArgs {
  std::string id, name;
};

Status add_aaguid(Services& s, const AaguidArgs& a) {
  auto added = s.mfa().add_aaguid(a.id, a.name);
  if (!added) return added.error();
  ctl_audit(s, "fido.aaguid.add", "", {{"aaguid", added->aaguid}, {"name", added->name}});
  std::cout << "allowed " << added->aaguid << (added->name.empty() ? "" : " (" + added->name + ")") << "\n";
  return {};
}

void print_aaguids(const std::vector<authn::AllowedAaguid>& rows) {
  std::printf("%-38s %s\n", "AAGUID", "NAME");
  for (const auto& a : rows) std::printf("%-38s %s\n", a.aaguid.c_str(), a.name.c_str());
}

nlohmann::json aaguid_json(const authn::AllowedAaguid& a) { return {{"aaguid", a.aaguid}, {"name", a.name}}; }

Status list_aaguids(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.mfa().aaguids(), a.json, aaguid_json, print_aaguids);
}

Status remove_aaguid(Services& s, const AaguidArgs& a) {
  if (auto st = s.mfa().remove_aaguid(a.id); !st) return st;
  ctl_audit(s, "fido.aaguid.remove", "", {{"aaguid", a.id}});
  std::cout << "removed " << a.id << "\n";
  return {};
}

void register_roots(CLI::App* fido, CtlGlobals& g) {
  auto* roots = fido->add_subcommand("roots", "certificates attestations must chain to");
  roots->require_subcommand(1);
  auto* add = roots->add_subcommand("add", "trust a PEM certificate (one per file)");
  auto a = std::make_shared<RootAddArgs>();
  add->add_option("FILE", a->file)->required();
  add->add_flag("--intermediate", a->intermediate, "an intermediate CA (used to build chains, not trusted by itself)");
  ctl_command(add, g, a, add_root);
  auto* list = roots->add_subcommand("list", "list trusted certificates");
  ctl_command(list, g, add_json_flag(list), list_roots);
  auto* rm = roots->add_subcommand("remove", "stop trusting a certificate");
  auto ra = std::make_shared<CertArgs>();
  rm->add_option("CERT", ra->cert, "the PEM file, or its SHA-256 (or the first 8+ hex digits, see fido roots list)")
      ->required();
  ctl_command(rm, g, ra, remove_root);
}

void register_aaguids(CLI::App* fido, CtlGlobals& g) {
  auto* ids = fido->add_subcommand("aaguids", "authenticator models (AAGUIDs) allowed to enrol");
  ids->require_subcommand(1);
  auto* add = ids->add_subcommand("add", "allow an AAGUID");
  auto a = std::make_shared<AaguidArgs>();
  add->add_option("UUID", a->id)->required();
  add->add_option("--name", a->name, "what it is, e.g. 'YubiKey 5 NFC (5.7)'");
  ctl_command(add, g, a, add_aaguid);
  auto* list = ids->add_subcommand("list", "list allowed AAGUIDs");
  ctl_command(list, g, add_json_flag(list), list_aaguids);
  auto* rm = ids->add_subcommand("remove", "stop allowing an AAGUID (enrolled keys stay)");
  auto ra = std::make_shared<AaguidArgs>();
  rm->add_option("UUID", ra->id)->required();
  ctl_command(rm, g, ra, remove_aaguid);
}

}  // namespace

void register_user_key_confirmation(CLI::App* user, CtlGlobals& g) {
  for (bool confirm : {true, false}) {
    auto* cmd = user->add_subcommand(
        confirm ? "confirm-key" : "reject-key",
        confirm ? "make a security key registered from an invitation usable (check with the person first that it is "
                  "theirs: registered when, which model)"
                : "remove a security key registered from an invitation that is still waiting for confirmation");
    auto a = std::make_shared<PendingKeyArgs>();
    a->confirm = confirm;
    cmd->add_option("NAME", a->name, "user name")->required();
    cmd->add_option("CREDENTIAL_ID", a->id,
                    "the credential id from `bastionctl user show NAME` (or its first 8+ "
                    "characters); one that starts with '-' goes after --: "
                    "user confirm-key -- NAME -ID")
        ->required();
    ctl_command(cmd, g, a, decide_pending_key);
  }
}

void register_fido_commands(CLI::App& app, CtlGlobals& g) {
  auto* fido = app.add_subcommand("fido", "attestation trust: root certificates and allowed authenticator models");
  fido->require_subcommand(1);
  register_roots(fido, g);
  register_aaguids(fido, g);
}

}  // namespace bastion::gateway
