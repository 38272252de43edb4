#!/usr/bin/env bash
# Demo: installs what is missing, builds, and starts a gateway on 127.0.0.1:2200
# in front of a local sshd target on 127.0.0.1:2222, with a demo person whose
# key lives in the project's SOFTWARE security key (a test tool, not for real
# use). State lives in ./demo-state; `scripts/demo.sh stop` stops it all.
# WebAuthn step-ups (elevation) are approved with a software authenticator in
# headless Chromium: `scripts/demo.sh approve URL [demo|carol]`.
# scripts/cluster-demo.sh runs it with BASTION_DEMO_STATE (another state
# directory) and BASTION_DEMO_DATABASE (a postgresql:// URL instead of SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
state="${BASTION_DEMO_STATE:-$root/demo-state}"
gw_port="${BASTION_DEMO_PORT:-2200}"
target_port="${BASTION_DEMO_TARGET_PORT:-2222}"
web_port="${BASTION_DEMO_WEB_PORT:-8443}"
smtp_port="${BASTION_DEMO_SMTP_PORT:-$((gw_port + 325))}"

stop() {
  for pidfile in "$state/bastiond.pid" "$state/target/sshd.pid" "$state/smtp.pid"; do
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

browser() {  # VERB URL WHO: the demo person's software authenticator in headless Chromium
  node "$root/tests/browser/webauthn.mjs" "$1" --url "$2" --state "$state/webauthn_$3.json" --cert "$state/web_cert.pem"
}

if [ "${1:-}" = "approve" ]; then
  [ $# -ge 2 ] || { echo "usage: scripts/demo.sh approve https://localhost:$web_port/mfa/CODE [demo|carol]" >&2; exit 2; }
  browser approve "$2" "${3:-demo}"
  exit $?
fi

if [ "${1:-}" = "console-approve" ]; then
  # carol signs in to the web console with her security key and approves REQ
  # there (a second touch, for that approval alone), in headless Chromium.
  [ $# -eq 2 ] || { echo "usage: scripts/demo.sh console-approve REQ-..." >&2; exit 2; }
  case "$2" in REQ-*) ;; *) echo "console-approve: $2 is not a request id (REQ-...)" >&2; exit 2 ;; esac
  steps="$(mktemp)"
  cat > "$steps" <<JSON
[{"goto": "/console/signin"}, {"fill": "#user", "value": "carol"}, {"click": "#signin"},
 {"waitFor": "body[data-page=requests], body[data-state=failed]"},
 {"goto": "/console/requests/$2"}, {"waitFor": "#approve, body[data-state=failed]"},
 {"click": "#approve"}, {"waitFor": "body[data-state=done], body[data-state=failed]"}, {"text": "page"}]
JSON
  out="$(node "$root/tests/browser/console.mjs" --base "https://localhost:$web_port" --state "$state/webauthn_carol.json" \
         --cert "$state/web_cert.pem" --steps "$steps")" || true
  rm -f "$steps"
  printf '%s' "$out" | python3 -c 'import json,sys
r = json.load(sys.stdin)
lines = [l for l in r.get("results", {}).get("page", "").splitlines() if l.startswith(("Confirming:", "Done:", "Failed:"))]
print("\n".join(lines) if lines else "failed: " + r.get("error", "no answer"))
sys.exit(0 if any(l.startswith("Done:") for l in lines) else 1)'
  exit $?
fi

if [ "${1:-}" = "stop" ]; then
  stop
  echo "demo stopped (state kept in $state; delete it to start over)"
  exit 0
fi

./scripts/deps.sh
./tests/browser/install.sh
./scripts/build.sh bastiond bastionctl bastion-verify bastion-softkey
bin="$root/build/gateway"
softkey="$root/build/tests/softkey/libbastion-softkey.so"
login="$(id -un)"

stop
if [ -d "$state" ]; then
  echo "removing the previous demo state in $state"
  rm -rf "$state"
fi
ctl() { "$bin/bastionctl" --config "$state/bastion.toml" "$@"; }

database=()
[ -n "${BASTION_DEMO_DATABASE:-}" ] && database=(--database "$BASTION_DEMO_DATABASE")
"$bin/bastionctl" init --state-dir "$state" --listen "127.0.0.1:$gw_port" --public-url "https://localhost:$web_port" \
  "${database[@]}" >/dev/null
# Users reach this gateway through the "gw" alias of the ssh_config below.
sed -i 's/^# public_name = .*/public_name = "gw"/' "$state/bastion.toml"
# Notifications go to a local mail catcher (aiosmtpd): each message lands in
# $state/mail.jsonl. A real relay wants STARTTLS and a password_file.
/usr/bin/python3 "$root/tests/e2e/fixtures/smtp_sink.py" "$smtp_port" - - - - "$state/mail.jsonl" \
  >"$state/smtp.log" 2>&1 &
echo $! > "$state/smtp.pid"
cat >> "$state/bastion.toml" <<CFG

[notify.email]                           # the demo's local mail catcher (scripts/demo.sh)
smtp_url = "smtp://127.0.0.1:$smtp_port"
starttls = false
from = "bastion@demo.example"
CFG

# A real sshd target that trusts the gateway's user CA.
mkdir -p "$state/target"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$state/target/host_key"
ctl ca show > "$state/target/user_ca.pub"
cat > "$state/target/sshd_config" <<CFG
Port $target_port
ListenAddress 127.0.0.1
HostKey $state/target/host_key
PidFile $state/target/sshd.pid
TrustedUserCAKeys $state/target/user_ca.pub
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
Subsystem sftp internal-sftp
CFG
/usr/sbin/sshd -f "$state/target/sshd_config" -E "$state/target/sshd.log"

ctl target add demo-target --address "127.0.0.1:$target_port" --host-key "$state/target/host_key.pub" --label env=demo >/dev/null
# demo-ops asks for no step-up so the first ssh just works; a real standing
# role would keep the default (--step-up 12h). Grants always need one.
ctl role add demo-ops --targets 'env=demo' --logins "$login" --step-up none >/dev/null
ctl customer add acme >/dev/null
ctl role add support --targets 'customer=*' --logins "$login" --elevated --max-duration 4h >/dev/null
ctl user add demo --role demo-ops --role support --email demo@example.com >/dev/null
# Attested enrollment, as with a YubiKey: here the software key attests with a
# demo CA (trusted below, for this demo only) instead of Yubico's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$state/demo_att_ca.key" \
  -out "$state/demo_att_ca.pem" -days 30 -subj "/CN=bastion demo attestation CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$state/demo_att.key" \
  -out "$state/demo_att.csr" -subj "/CN=bastion softkey (demo)" 2>/dev/null
aaguid=b0a57e11-5e1f-4b0a-9a11-00000000d340
printf 'basicConstraints=critical,CA:FALSE\n1.3.6.1.4.1.45724.1.1.4=ASN1:FORMAT:HEX,OCTETSTRING:%s\n' "${aaguid//-/}" > "$state/demo_att.ext"
openssl x509 -req -in "$state/demo_att.csr" -CA "$state/demo_att_ca.pem" -CAkey "$state/demo_att_ca.key" \
  -CAcreateserial -out "$state/demo_att.pem" -days 30 -extfile "$state/demo_att.ext" 2>/dev/null
ctl fido roots add "$state/demo_att_ca.pem" >/dev/null
ctl fido aaguids add "$aaguid" --name "bastion software key (demo only)" >/dev/null
# The demo's WebAuthn authenticator is Chromium's virtual one (headless, see
# `scripts/demo.sh approve`); trust its fixed attestation key, for this demo only.
ctl fido roots add "$root/tests/browser/chromium-virtual-authenticator-attestation.pem" >/dev/null
ctl fido aaguids add 01020304-0506-0708-0102-030405060708 --name "Chromium virtual authenticator (demo only)" >/dev/null
enroll() {  # NAME: key challenge, ssh-keygen with attestation, key add --attestation
  ctl key challenge "$1" --out "$state/$1_challenge.bin" >/dev/null
  BASTION_SOFTKEY_ATTEST_KEY="$state/demo_att.key" BASTION_SOFTKEY_ATTEST_CERT="$state/demo_att.pem" \
    BASTION_SOFTKEY_AAGUID="$aaguid" ssh-keygen -q -t ed25519-sk -w "$softkey" -N '' -C "$1" \
    -O challenge="$state/$1_challenge.bin" -O write-attestation="$state/$1_key.att" -f "$state/$1_key"
  ctl key add "$1" "$state/$1_key.pub" --attestation "$state/$1_key.att" >/dev/null
}
enroll demo
# Elevation: a customer's target that "demo" may only reach with consent from carol.
ctl target add acme-app --address "127.0.0.1:$target_port" --host-key "$state/target/host_key.pub" --customer acme >/dev/null
ctl user add carol --email carol@acme.example >/dev/null
enroll carol
ctl customer approver add acme carol >/dev/null

echo "[127.0.0.1]:$gw_port $(cat "$state/ssh_host_ed25519_key.pub")" > "$state/known_hosts"
cat > "$state/ssh_config" <<CFG
Host gw
  HostName 127.0.0.1
  Port $gw_port
  IdentityFile $state/demo_key
  IdentitiesOnly yes
  IdentityAgent none
  SecurityKeyProvider $softkey
  UserKnownHostsFile $state/known_hosts
  StrictHostKeyChecking yes
Host gw-carol
  HostName 127.0.0.1
  Port $gw_port
  IdentityFile $state/carol_key
  IdentitiesOnly yes
  IdentityAgent none
  SecurityKeyProvider $softkey
  UserKnownHostsFile $state/known_hosts
  HostKeyAlias [127.0.0.1]:$gw_port
  StrictHostKeyChecking yes
CFG

"$bin/bastiond" --config "$state/bastion.toml" >>"$state/bastiond.log" 2>&1 &
echo $! > "$state/bastiond.pid"
for _ in $(seq 1 50); do
  (echo > "/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null && (echo > "/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && break
  sleep 0.1
done
# WebAuthn credentials for step-ups, registered from invitations in the browser.
# A key registered from an invitation waits for confirmation (the person's SSH
# key with the page's code, or an administrator): here the administrator confirms.
for who in demo carol; do
  browser register "$(ctl user invite "$who" 2>/dev/null)" "$who" >/dev/null
  for id in $(ctl user show "$who" --json | python3 -c 'import json,sys; print(" ".join(c["id"] for c in json.load(sys.stdin)["webauthn_credentials"] if c["state"] == "pending"))'); do
    ctl user confirm-key -- "$who" "$id" >/dev/null
  done
done

cat <<MSG

bastion demo is running: gateway 127.0.0.1:$gw_port -> target demo-target (sshd on 127.0.0.1:$target_port)
The demo person "demo" holds a key in the project's software security key.

  ssh -F $state/ssh_config $login@demo-target@gw                  # a shell on the target
  ssh -F $state/ssh_config $login@demo-target@gw uptime           # one command
  ssh -F $state/ssh_config demo@gw targets                        # command mode
  $bin/bastionctl --config $state/bastion.toml sessions list
  $bin/bastionctl --config $state/bastion.toml sessions commands ID     # what was run, and when
  $bin/bastionctl --config $state/bastion.toml sessions replay ID --at 0:05
  $bin/bastionctl --config $state/bastion.toml sessions search --command 'rm|sudo'
  $bin/bastionctl --config $state/bastion.toml audit list

Elevation with the customer's consent (carol approves for customer acme). Approving
and using a grant need a security-key step-up: ssh prints a URL; approve it with
  scripts/demo.sh approve URL carol      (or: URL demo)   # headless Chromium, software authenticator
  ssh -F $state/ssh_config demo@gw request $login@acme-app --for 15m --reason "TICKET-1 demo"
  ssh -F $state/ssh_config carol@gw-carol requests
  ssh -F $state/ssh_config carol@gw-carol approve REQ-...      # or: deny REQ-... --reason TEXT
  scripts/demo.sh console-approve REQ-...                        # or: carol approves in the web console
  ssh -F $state/ssh_config $login@acme-app@gw                     # step-up, then works until the grant ends
  ssh -F $state/ssh_config carol@gw-carol revoke GRT-...        # the live session ends at once
  $bin/bastionctl --config $state/bastion.toml access check demo $login@acme-app

Notifications (carol hears of requests, demo of decisions and grants ending) are
e-mails, caught locally in $state/mail.jsonl:
  $bin/bastionctl --config $state/bastion.toml notify list

The web console: https://localhost:$web_port/console (carol and demo sign in with their
security keys; in your own browser, register one first: bastionctl user invite NAME)

Evidence for an auditor: a signed pack of today, checked offline
  $bin/bastionctl --config $state/bastion.toml evidence export --from $(date -u +%Y-%m-%d) --to $(date -u -d tomorrow +%Y-%m-%d) --out /tmp/evidence.tar
  $bin/bastion-verify --expect-key $state/audit_signing_key.pub /tmp/evidence.tar

Logs: $state/bastiond.log   Stop: scripts/demo.sh stop
MSG
