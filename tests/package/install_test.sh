#!/usr/bin/env bash
# Installs a built bastion .deb on this machine and checks it as an operator
# would use it: the users, files, conffile and man pages are there; the first
# installation initialised /var/lib/bastion as the bastion user; an edited
# /etc/bastion/bastion.toml survives a reinstall; the service starts (with
# systemd where it runs, else with the unit's own user, capabilities and
# environment) and a service account ssh's through it to a local sshd target;
# the audit chain verifies. Then everything is stopped and the package purged.
#
#   tests/package/install_test.sh dist/bastion_VERSION_ARCH.deb
#
# Run by `scripts/package.sh --install-test`. Needs root (or sudo); refuses to
# run where bastion is already installed or /etc/bastion or /var/lib/bastion
# exist, so it never touches a real deployment.
set -euo pipefail
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 PACKAGE.deb" >&2; exit 2; }
deb="$(realpath "$1")"
if [ "$(id -u)" -ne 0 ]; then exec sudo "$0" "$deb"; fi

say() { echo "install-test: $*"; }
fail() { echo "install-test: FAILED: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' bastion 2>/dev/null | grep -q "installed"; then
  fail "bastion is already installed here; this test installs and purges it (use a scratch machine)"
fi
for d in /etc/bastion /var/lib/bastion; do
  [ -e "$d" ] && fail "$d exists; this test would remove it (use a scratch machine)"
done

gw_port="${BASTION_PKG_GW_PORT:-2290}"
web_port="${BASTION_PKG_WEB_PORT:-8490}"
target_port="${BASTION_PKG_TARGET_PORT:-2291}"
version="$(dpkg-deb -f "$deb" Version)"
work="$(mktemp -d /tmp/bastion-install-test-XXXXXX)"
chmod 0755 "$work"
users_before="$(getent passwd bastion bastion-session bastion-web bastion-notify | cut -d: -f1 || true)"
use_systemd=0
[ -d /run/systemd/system ] && use_systemd=1
daemon_pid=""

cleanup() {
  set +e
  if [ "$use_systemd" -eq 1 ]; then
    systemctl stop bastiond 2>/dev/null
  elif [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null
  fi
  [ -f "$work/target/sshd.pid" ] && kill "$(cat "$work/target/sshd.pid")" 2>/dev/null
  pkill -KILL -f '^/usr/sbin/bastiond( |$)' 2>/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq bastion >/dev/null 2>&1
  # The package keeps /var/lib/bastion on purge (it holds the audit trail).
  rm -rf /var/lib/bastion /etc/bastion "$work"
  for u in bastion-notify bastion-web bastion-session bastion; do
    if ! grep -qx "$u" <<<"$users_before" && getent passwd "$u" >/dev/null; then
      userdel "$u" 2>/dev/null
      getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null
    fi
  done
}
trap cleanup EXIT

# --- install -----------------------------------------------------------------
say "installing $(basename "$deb")"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "apt-get install"; }
grep -q "set \[gateway\] listen and \[web\] public_url" "$work/install.log" ||
  { cat "$work/install.log" >&2; fail "postinst did not initialise /var/lib/bastion"; }

for u in bastion bastion-session bastion-web bastion-notify; do
  getent passwd "$u" >/dev/null || fail "user $u was not created (sysusers)"
done
for f in /usr/sbin/bastiond /usr/bin/bastionctl /lib/systemd/system/bastiond.service \
         /usr/lib/sysusers.d/bastion.conf /usr/lib/tmpfiles.d/bastion.conf /etc/bastion/bastion.toml \
         /usr/share/man/man8/bastiond.8.gz /usr/share/man/man1/bastionctl.1.gz /usr/share/doc/bastion/README.md; do
  [ -e "$f" ] || fail "$f is not installed"
done
dpkg-query -W -f='${Conffiles}\n' bastion | grep -q "/etc/bastion/bastion.toml" ||
  fail "/etc/bastion/bastion.toml is not a conffile"
zcat /usr/share/man/man1/bastionctl.1.gz | grep -q "sessions kill" || fail "bastionctl.1 lacks the subcommands"
zcat /usr/share/man/man8/bastiond.8.gz | grep -q 'check\\-config' || fail "bastiond.8 lacks --check"
systemd-analyze verify /lib/systemd/system/bastiond.service >"$work/verify-unit.log" 2>&1 ||
  { cat "$work/verify-unit.log" >&2; fail "systemd-analyze verify bastiond.service"; }
[ "$(bastiond --version)" = "bastiond $version" ] || fail "bastiond --version: $(bastiond --version)"
[ "$(bastionctl --version)" = "bastionctl $version" ] || fail "bastionctl --version: $(bastionctl --version)"
[ "$(bastion-verify --version)" = "bastion-verify $version" ] || fail "bastion-verify --version: $(bastion-verify --version)"
zcat /usr/share/man/man1/bastion-verify.1.gz | grep -q 'expect\\-key' || fail "bastion-verify.1 lacks --expect-key"

[ "$(stat -c '%U %a' /var/lib/bastion)" = "bastion 700" ] ||
  fail "/var/lib/bastion is $(stat -c '%U %a' /var/lib/bastion), not bastion 700"
for f in user_ca_key audit_signing_key ssh_host_ed25519_key web_key.pem bastion.db; do
  [ -e "/var/lib/bastion/$f" ] || fail "postinst's init did not create /var/lib/bastion/$f"
  [ "$(stat -c %U "/var/lib/bastion/$f")" = "bastion" ] || fail "/var/lib/bastion/$f is not owned by bastion"
done
[ "$(stat -c %a /var/lib/bastion/user_ca_key)" = "600" ] || fail "user_ca_key is not mode 0600"
say "installed: users, files, conffile, man pages, state initialised as bastion"

# --- configure; the edit survives a reinstall (conffile) ----------------------
sed -i -e "s|^listen = \"0.0.0.0:22\"|listen = \"127.0.0.1:$gw_port\"|" \
  -e "s|^# public_url = .*|public_url = \"https://localhost:$web_port\"|" \
  -e "s|^listen = \"127.0.0.1:8443\"|listen = \"127.0.0.1:$web_port\"|" /etc/bastion/bastion.toml
grep -q "^listen = \"127.0.0.1:$gw_port\"" /etc/bastion/bastion.toml || fail "could not edit the [gateway] listen line"
grep -q "^public_url = " /etc/bastion/bastion.toml || fail "could not edit the [web] public_url line"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/reinstall.log" 2>&1 ||
  { cat "$work/reinstall.log" >&2; fail "reinstall"; }
grep -q "^listen = \"127.0.0.1:$gw_port\"" /etc/bastion/bastion.toml || fail "the reinstall overwrote /etc/bastion/bastion.toml"
say "reinstalled: the edited configuration was kept"

export BASTION_CONFIG=/etc/bastion/bastion.toml
runuser -u bastion -- env BASTION_CONFIG=/etc/bastion/bastion.toml bastiond --check >"$work/check.log" 2>&1 ||
  { cat "$work/check.log" >&2; fail "bastiond --check"; }

# --- a target that trusts the gateway's user CA -------------------------------
mkdir -p "$work/target" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/target/host_key"
bastionctl ca show >"$work/target/user_ca.pub"  # as root: bastionctl acts as the bastion user
cat >"$work/target/sshd_config" <<CFG
Port $target_port
ListenAddress 127.0.0.1
HostKey $work/target/host_key
PidFile $work/target/sshd.pid
TrustedUserCAKeys $work/target/user_ca.pub
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
CFG
/usr/sbin/sshd -f "$work/target/sshd_config" -E "$work/target/sshd.log"

bastionctl target add pkg-target --address "127.0.0.1:$target_port" --host-key "$work/target/host_key.pub" \
  --label env=pkg >/dev/null
bastionctl role add pkg-ops --targets env=pkg --logins root --step-up none >/dev/null
bastionctl user add robot --service-account --role pkg-ops >/dev/null
ssh-keygen -q -t ed25519 -N '' -C robot -f "$work/robot_key"
bastionctl key add robot "$work/robot_key.pub" --no-attestation >/dev/null
[ "$(stat -c %U /var/lib/bastion/bastion.db)" = "bastion" ] || fail "bastionctl as root left bastion.db owned by root"

# --- start the service --------------------------------------------------------
if [ "$use_systemd" -eq 1 ]; then
  systemctl daemon-reload
  systemctl start bastiond || { journalctl -u bastiond --no-pager | tail -30 >&2; fail "systemctl start bastiond"; }
  say "started with systemd"
else
  # No systemd here (a container): the unit's user, capabilities and environment.
  caps="$(sed -n 's/^AmbientCapabilities=//p' /lib/systemd/system/bastiond.service |
    tr 'A-Z' 'a-z' | sed -e 's/cap_/+/g' -e 's/ /,/g')"
  [ -n "$caps" ] || fail "bastiond.service has no AmbientCapabilities line"
  setpriv --reuid bastion --regid bastion --init-groups --inh-caps "$caps" --ambient-caps "$caps" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin BASTION_CONFIG=/etc/bastion/bastion.toml /usr/sbin/bastiond \
    >"$work/bastiond.log" 2>&1 &
  daemon_pid=$!
  say "started without systemd (pid $daemon_pid, as bastion with the unit's capabilities $caps)"
fi
for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null && break
  sleep 0.1
done
(echo >"/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null || { cat "$work/bastiond.log" >&2 2>/dev/null; fail "bastiond does not listen on $gw_port"; }

# --- ssh through it -----------------------------------------------------------
echo "[127.0.0.1]:$gw_port $(cat /var/lib/bastion/ssh_host_ed25519_key.pub)" >"$work/known_hosts"
gw_ssh=(ssh -F none -i "$work/robot_key" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
  -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -p "$gw_port" root@pkg-target@127.0.0.1)
out="$("${gw_ssh[@]}" 'echo through-the-package; id -un' 2>"$work/ssh.err")" ||
  { cat "$work/ssh.err" "$work/bastiond.log" >&2 2>/dev/null; fail "ssh through the installed gateway"; }
[ "$out" = "$(printf 'through-the-package\nroot')" ] || fail "ssh printed: $out"
say "ssh root@pkg-target through the installed gateway: ok"

# `sessions kill` reaches a connection process that runs as bastion-session.
"${gw_ssh[@]}" 'echo up; sleep 120' >"$work/long.out" 2>&1 &
long_pid=$!
for _ in $(seq 1 100); do grep -q up "$work/long.out" && break; sleep 0.1; done
grep -q up "$work/long.out" || fail "the long session did not start: $(cat "$work/long.out")"
live="$(bastionctl sessions list --live --json)"
id="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["id"])' "$live")"
bastionctl sessions kill "$id" --reason "install test" >/dev/null
for _ in $(seq 1 100); do kill -0 "$long_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$long_pid" 2>/dev/null; then
  kill "$long_pid"
  fail "sessions kill did not end the live session within 10 s"
fi
wait "$long_pid" 2>/dev/null || true
say "sessions kill ended a live session"

bastionctl sessions list >"$work/sessions.txt"
grep -q "robot" "$work/sessions.txt" && grep -q "pkg-target" "$work/sessions.txt" ||
  { cat "$work/sessions.txt" >&2; fail "sessions list does not show robot's session"; }
bastionctl audit verify >"$work/verify.txt" 2>&1 || { cat "$work/verify.txt" >&2; fail "audit verify"; }
bastionctl audit list >"$work/audit.txt"
grep -q "admin:root" "$work/audit.txt" || fail "the audit log does not name admin:root for the commands run as root"
say "sessions list, audit verify, audit actor: ok"

# An evidence pack, written by root's bastionctl, checked by the installed verifier.
# bastionctl acts as the state directory's owner: it writes where bastion may.
chmod 711 "$work"
install -d -o bastion -m 0700 "$work/packs"
bastionctl evidence export --from "$(date -u -d yesterday +%Y-%m-%d)" --to "$(date -u -d tomorrow +%Y-%m-%d)" \
  --with-recordings --out "$work/packs/evidence.tar" >"$work/evidence.log" 2>&1 || { cat "$work/evidence.log" >&2; fail "evidence export"; }
bastion-verify --expect-key /var/lib/bastion/audit_signing_key.pub "$work/packs/evidence.tar" >"$work/evidence-verify.txt" ||
  { cat "$work/evidence-verify.txt" >&2; fail "bastion-verify of the installed gateway's pack"; }
say "evidence export and bastion-verify: $(grep -o 'RESULT: [A-Z]*' "$work/evidence-verify.txt")"

# --- stop, purge --------------------------------------------------------------
if [ "$use_systemd" -eq 1 ]; then
  systemctl stop bastiond
else
  kill -TERM "$daemon_pid"
  for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$daemon_pid" 2>/dev/null && fail "bastiond did not stop on SIGTERM"
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
fi
# Its connection and web processes end with it (they run as other users).
wait_for_none() { for _ in $(seq 1 50); do pgrep -u "$1" >/dev/null || return 0; sleep 0.1; done; return 1; }
for u in bastion bastion-session bastion-web bastion-notify; do
  wait_for_none "$u" || fail "processes of $u remain after bastiond stopped: $(pgrep -a -u "$u")"
done
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq bastion >/dev/null 2>&1 || fail "apt-get purge"
[ -e /usr/sbin/bastiond ] && fail "purge left /usr/sbin/bastiond"
[ -e /etc/bastion/bastion.toml ] && fail "purge left /etc/bastion/bastion.toml"
[ -d /var/lib/bastion ] || fail "purge removed /var/lib/bastion (the audit trail must be kept)"
say "stopped and purged (/var/lib/bastion kept, as documented); passed"
