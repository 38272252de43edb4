#!/usr/bin/env bash
# Installs what the WebAuthn browser tests need, if missing: Debian's
# chromium, node and npm, and the pinned playwright-core (npm ci from
# package-lock.json into tests/browser/node_modules). Idempotent and quiet:
# prints nothing when everything is in place.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
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

# node_modules is current when it was installed from this very lock file.
stamp="$here/node_modules/.bastion-lock-sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$here/node_modules/playwright-core" ]; then
  exit 0
fi
echo "installing tests/browser/node_modules (npm ci)" >&2
# playwright-core never downloads a browser; the tests use Debian's chromium.
(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "$want" >"$stamp"
