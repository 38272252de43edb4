// `bastionctl ca show|rotate`: the user CA targets trust (TrustedUserCAKeys),
// and its rotation without a failed login: rotate (a next key, trusted by the
// targets before it signs), --promote (refused until the targets used lately
// accept it; the running bastiond then signs with it), --retire (the old key
// goes). gateway/app/ca_rotation.h keeps the key files.
#include <cstdio>
#include <iostream>

#include "common/strings.h"
#include "gateway/app/ca_rotation.h"
#include "gateway/ctl/control_client.h"
#include "gateway/ctl/ctl.h"

namespace bastion::gateway {
namespace {

Status show_ca(Services& s) {
  auto text = UserCaRotation(s.config().user_ca_key).trusted_keys_text();
  if (!text) return text.error();
  std::cout << *text;
  return {};
}

struct RotateArgs {
  bool promote = false;
  bool retire = false;
  bool cancel = false;
  int days = 30;
  const CtlTools* tools = nullptr;
};

Status check_rotate(RotateArgs& a) {
  if (int(a.promote) + int(a.retire) + int(a.cancel) > 1) {
    return make_error("one of --promote, --retire or --cancel at a time");
  }
  if (a.days < 0 || a.days > 3650) return make_error("--days: between 0 and 3650");
  return {};
}

// Asks the local bastiond to load the key file again (`reload`) or which key
// it signs with; an error when it is not running or refused.
Result<std::string> ask_daemon(Services& s, bool reload) {
  auto r = control_call(s.config().control_socket, {monitor::Control::kUserCa, reload ? "reload" : "status", ""}, 5000);
  if (!r) return r.error();
  if (!r->ok) return make_error(r->error);
  return r->error;
}

Status start_rotation(Services& s, UserCaRotation& rot) {
  auto before = rot.state();
  if (!before) return before.error();
  auto next = rot.start();
  if (!next) return next.error();
  ctl_audit(s, "ca.rotate", "", {{"active", before->active.fingerprint}, {"next", next->fingerprint}});
  std::printf(
      "made the next user CA key %s (%s); the gateway still signs with %s.\n"
      "Next:\n"
      "  1. Make every target trust both keys: put the lines `bastionctl ca show` prints into the file sshd's\n"
      "     TrustedUserCAKeys names (sshd reads it at each login; no restart).\n"
      "  2. On other gateway nodes, copy %s into their state directory.\n"
      "  3. bastionctl ca rotate --promote   (checks that the targets accept the new key first)\n",
      next->fingerprint.c_str(), rot.next_path().c_str(), before->active.fingerprint.c_str(), rot.next_path().c_str());
  return {};
}

Status promote(Services& s, UserCaRotation& rot, const RotateArgs& a) {
  auto st = rot.state();
  if (!st) return st.error();
  if (!st->next) return make_error("no rotation is under way: start one with `bastionctl ca rotate`");
  auto recent = s.sessions().recent_targets(s.clock().now() - Micros{a.days} * 24 * 3600 * kMicrosPerSecond);
  if (!recent) return recent.error();
  if (recent->empty()) {
    std::printf("no target was used in the last %d days: nothing to check\n", a.days);
  } else {
    std::printf("checking that the %zu target(s) used in the last %d days accept the new key %s:\n", recent->size(),
                a.days, st->next->fingerprint.c_str());
  }
  std::vector<std::string> refused, checked;
  nlohmann::json why = nlohmann::json::object();
  for (const auto& [name, login] : *recent) {
    auto t = s.policy().find_target(name);
    if (!t) return t.error();
    if (!*t) {
      std::printf("  %s: no longer a target, skipped\n", name.c_str());
      continue;
    }
    std::fflush(stdout);
    auto probe = a.tools->probe_user_ca(**t, login, rot.next_path());
    if (probe) {
      std::printf("  %s (%s): accepts the new key\n", name.c_str(), login.c_str());
      checked.push_back(name);
    } else {
      std::printf("  %s (%s): refused: %s\n", name.c_str(), login.c_str(), probe.message().c_str());
      refused.push_back(name);
      why[name] = probe.message();
    }
  }
  if (!refused.empty()) {
    std::string reason = "not promoted: " + std::to_string(refused.size()) + " of " +
                         std::to_string(refused.size() + checked.size()) + " target(s) used in the last " +
                         std::to_string(a.days) + " days do not accept the new key yet: " + join(refused, ", ");
    ctl_audit_denied(s, "ca.promote", reason, {{"next", st->next->fingerprint}, {"refused", why}, {"days", a.days}});
    return make_error(reason + " (make them trust the lines `bastionctl ca show` prints, then run this again)");
  }
  auto active = rot.promote();
  if (!active) return active.error();
  ctl_audit(
      s, "ca.promote", "",
      {{"active", active->fingerprint}, {"previous", st->active.fingerprint}, {"checked", checked}, {"days", a.days}});
  std::printf("promoted: %s is the active user CA key; %s stays trusted until `bastionctl ca rotate --retire`\n",
              active->fingerprint.c_str(), st->active.fingerprint.c_str());
  auto signs = ask_daemon(s, true);
  if (signs) {
    std::printf("bastiond signs with %s\n", signs->c_str());
  } else {
    ctl_warn("bastiond did not reload the key (" + signs.error().message +
             "); it signs with the new key once it starts or gets SIGHUP (systemctl reload bastiond)");
  }
  std::printf(
      "On other gateway nodes: copy the user CA key files there and send bastiond SIGHUP. Then retire the "
      "previous key.\n");
  return {};
}

Status retire(Services& s, UserCaRotation& rot) {
  auto st = rot.state();
  if (!st) return st.error();
  if (!st->previous) return make_error("there is no previous CA key to retire");
  // SECURITY: not while the local bastiond still signs with it; the targets
  // are about to stop trusting it.
  if (auto signs = ask_daemon(s, false); signs && *signs == st->previous->fingerprint) {
    return make_error("bastiond still signs with the previous key " + *signs +
                      ": send it SIGHUP (systemctl reload bastiond) first");
  }
  auto gone = rot.retire();
  if (!gone) return gone.error();
  ctl_audit(s, "ca.retire", "", {{"retired", gone->fingerprint}, {"active", st->active.fingerprint}});
  std::printf("retired %s. Remove its line from TrustedUserCAKeys on every target:\n%s\n", gone->fingerprint.c_str(),
              gone->line.c_str());
  return {};
}

Status rotate(Services& s, const RotateArgs& a) {
  UserCaRotation rot(s.config().user_ca_key);
  if (a.promote) return promote(s, rot, a);
  if (a.retire) return retire(s, rot);
  if (a.cancel) {
    auto st = rot.state();
    if (!st) return st.error();
    if (auto c = rot.cancel(); !c) return c;
    ctl_audit(s, "ca.cancel", "", {{"cancelled", st->next->fingerprint}, {"active", st->active.fingerprint}});
    std::printf("cancelled: removed the next key %s; %s stays the only user CA key\n", st->next->fingerprint.c_str(),
                st->active.fingerprint.c_str());
    return {};
  }
  return start_rotation(s, rot);
}

}  // namespace

void register_ca_commands(CLI::App& app, CtlGlobals& g) {
  auto* ca = app.add_subcommand("ca", "the user certificate authority targets trust");
  ca->require_subcommand(1);
  ctl_command(ca->add_subcommand("show",
                                 "print the user-CA public key lines for sshd's TrustedUserCAKeys (during a "
                                 "rotation: both keys)"),
              g, show_ca);
  auto* rot = ca->add_subcommand("rotate",
                                 "replace the user CA key without a failed login: rotate, then --promote, "
                                 "then --retire");
  auto a = std::make_shared<RotateArgs>();
  a->tools = &g.tools;
  rot->add_flag("--promote", a->promote,
                "sign with the next key (refused until the targets used in the last --days accept it)");
  rot->add_flag("--retire", a->retire, "drop the previous key (after --promote)");
  rot->add_flag("--cancel", a->cancel, "drop the next key before --promote");
  rot->add_option("--days", a->days, "--promote checks the targets sessions went to in these many days (0: none)")
      ->capture_default_str();
  rot->footer(
      "Steps: `ca rotate` makes the next key; every target then trusts both (`ca show`); `ca rotate --promote`\n"
      "checks each recently used target with a test login and switches the running bastiond to the new key;\n"
      "`ca rotate --retire` drops the old key, whose line the targets may then remove. Each step is audited.");
  ctl_command(rot, g, a, rotate, check_rotate);
}

}  // namespace bastion::gateway
