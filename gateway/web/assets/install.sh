#!/usr/bin/env bash
# Installs the web console's front-end packages (asciinema-player), pinned
# by package-lock.json, into gateway/web/assets/node_modules with `npm ci`.
# The build embeds them into bastiond (cmake/EmbedAsset.cmake); nothing is
# fetched at run time. Idempotent and quiet: prints nothing when current.
# scripts/deps.sh runs it (and installs node and npm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  echo "installing: nodejs npm" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
stamp="$here/node_modules/.bastion-lock-sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$here/node_modules/asciinema-player/dist/bundle" ]; then
  exit 0
fi
echo "installing gateway/web/assets/node_modules (npm ci)" >&2
# --ignore-scripts: no package runs code on this machine at install time.
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
echo "$want" >"$stamp"
