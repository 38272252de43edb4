#!/usr/bin/env bash
# Installs the Debian packages bastion needs to build, test and demo, if missing.
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config
  libssh-dev libfido2-dev libssl-dev libsqlitecpp-dev libsqlite3-dev
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libgtest-dev
  openssh-client openssh-server openssh-sftp-server ssh-audit
  libcpp-httplib-dev libcbor-dev libseccomp-dev libzstd-dev
  ansible-core   # the e2e test that runs a playbook against 40 hosts through the gateway
  clang-format clang-tidy   # scripts/lint.sh (CI)
  libvterm-dev   # recorder/command_index.cpp: the terminal emulator behind the command index
  libpq-dev      # common/database_postgres.cpp: PostgreSQL, the store several gateways share
  postgresql     # the tests start their own server in a temporary directory
  libcurl4-openssl-dev  # notify/transport.cpp: notifications by e-mail (SMTP) and webhook (HTTPS)
  python3-aiosmtpd      # the notification tests' SMTP server (tests/e2e/fixtures/smtp_sink.py)
)
# More, for one script's own needs (the sanitizer run's clang, the package's
# debhelper): scripts/deps.sh PACKAGE...
packages+=("$@")
# The unprivileged users connection processes and the web process switch to
# when bastiond runs as root ([gateway] privsep_user, [web] privsep_user,
# and the notification senders' [notify] sender_user;
# contrib/bastion.sysusers.conf creates them for packages).
if [ "$(id -u)" -eq 0 ]; then
  for u in bastion-session bastion-web bastion-notify; do
    getent passwd "$u" >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
  done
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The web console's pinned front-end packages (npm ci), embedded at build time.
"$(dirname "${BASH_SOURCE[0]}")/../gateway/web/assets/install.sh"
