#!/usr/bin/env bash
# Installs what is missing, builds, and runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./tests/browser/install.sh   # chromium + pinned playwright-core for the WebAuthn browser tests
./scripts/build.sh
# Three at a time on two cores: most end-to-end tests wait (on ssh, sshd,
# the browser) more than they compute; the ones that measure time run alone
# (RUN_SERIAL, tests/e2e/CMakeLists.txt).
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"${CTEST_JOBS:-3}" --timeout 600
