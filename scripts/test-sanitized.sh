#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer into
# ./build-asan (or $BUILD_DIR) and runs every unit and end-to-end test under
# them. CI runs it after scripts/test.sh.
#
# Leak detection is off: libssh and OpenSSL keep process-lifetime allocations
# that LeakSanitizer reports at exit of every short-lived connection process.
# Memory errors and undefined behaviour abort the process (and fail the test).
# (No strict_string_checks: libssh strndup()s exact-length buffers, which that
# option reports although strndup never reads past its bound.)
#
# The build is clang's, with the fuzz targets in it (-DBASTION_FUZZ=ON: the
# whole project instrumented for libFuzzer too, at -O1, with assertions on),
# so that CI's fuzz run (BUILD_DIR=build-asan scripts/fuzz.sh) builds
# nothing: one instrumented build for both, not two (about 10 minutes of CI).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh clang libclang-rt-14-dev
build="${BUILD_DIR:-build-asan}"
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' "$build/CMakeCache.txt"; then
  echo "test-sanitized.sh: $build was configured with another compiler; this run builds with clang: rm -rf $build first" >&2
  exit 2
fi
# No benchmarks: they are not run here.
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBASTION_SANITIZE=ON \
  -DBASTION_FUZZ=ON -DBASTION_BUILD_BENCH=OFF >/dev/null
ninja -C "$build" -j"${JOBS:-2}"
# Reports from any process (bastiond's connection processes too, whose
# stderr goes to a log) land in $reports; any report fails the run.
reports="$(mktemp -d /tmp/bastion-sanitizer-XXXXXX)"
# Connection processes run as the unprivileged privsep_user: they must be able to write theirs.
chmod 1777 "$reports"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
status=0
# The e2e tests on PostgreSQL (label postgres-e2e) are left out here: the
# same tests run on SQLite, and the PostgreSQL engine's unit tests run.
# The two pure load tests (500 logins at once, Ansible with 40 forks) run
# alone, one after the other, for minutes under ASan; the storm of 100 and
# every other e2e test cover the same code here.
# The browser-driven flows of registration and step-up (the e2e groups
# "StepUp.*" and "Invite.*", and WebServerBrowser) are left out too (the
# policy's own StepUp unit tests stay): under ASan, Chromium beside the
# instrumented gateway makes them the slowest tests of the run (7 minutes of
# test time), while the web process and the monitor's WebAuthn checks run
# here in Elevation.*, Evidence.* and Console.* (browser step-ups, console
# sign-ins and actions) and the verification code in authn's unit tests.
# Three tests at a time on two cores: 17 minutes instead of 24.
ctest --test-dir "$build" --output-on-failure -j"${CTEST_JOBS:-3}" --timeout 900 -LE postgres-e2e \
  -E '^(LoginStorm\.FiveHundred.*|Ansible\..*|StepUp\.\*|Invite\.\*|WebServerBrowser\..*)$' || status=$?
if compgen -G "$reports/*" > /dev/null; then
  echo "sanitizer reports:" >&2
  for f in "$reports"/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  status=1
fi
rm -rf "$reports"
exit "$status"
