#!/usr/bin/env bash
# Installs what is missing, builds, and runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./tests/browser/install.sh   # chromium + pinned playwright-core for the WebAuthn browser tests
./scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j2 --timeout 600
