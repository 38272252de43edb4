#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang, ASan + UBSan, whole project
# instrumented) into ./build-fuzz (or $BUILD_DIR) and runs each one for a
# while on a copy of its seed corpus (fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]
#
# TARGET is a fuzz target name (fuzz_hr or just hr); default: all of them,
# N seconds each (default 10). A longer run, e.g. before a release:
#
#   scripts/fuzz.sh --seconds 600
#   scripts/fuzz.sh --seconds 3600 fuzz_sftp fuzz_cast
#
# Runs never modify the repository: each target works on a copy of its seeds
# in a temp directory. Prints one line per target (executions, coverage,
# result) and exits non-zero if any target found a crash, leak, timeout or
# failed property; the input that did it is kept and its path printed
# (reproduce with: build-fuzz/fuzz/TARGET FILE). Installs clang and the
# libFuzzer runtime with apt-get if missing. JOBS sets build parallelism and
# how many targets run at once (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

seconds=10
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || usage; seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    -h|--help) usage ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *) targets+=("fuzz_${1#fuzz_}"); shift ;;
  esac
done
case "$seconds" in
  ''|*[!0-9]*|0) echo "fuzz.sh: --seconds needs a positive integer" >&2; exit 2 ;;
esac

# Longest input per target (bytes): a little past each parser's own limits.
declare -A max_len=(
  [fuzz_ingress_name]=300   # user names: 256 bytes
  [fuzz_selector]=600       # selectors: 256 bytes, plus a target
  [fuzz_config]=8192
  [fuzz_hr]=10000           # lines: 4096 bytes
  [fuzz_sftp]=8192
  [fuzz_cast]=8192
  [fuzz_stream]=16384       # stream recordings: a header line and a few blocks
  [fuzz_command_index]=16384  # a session's bytes: records of at most 255 bytes
  [fuzz_public_key]=4096    # an RSA 4096 key line is ~750 bytes
  [fuzz_user_ca]=2048
  [fuzz_known_hosts]=8192   # a few known_hosts lines
  [fuzz_tar]=8192           # a few 512-byte blocks: headers, data, the end marker
  [fuzz_split_words]=2100   # command lines: 2048 bytes
  [fuzz_wire]=4096
  [fuzz_monitor]=17000      # monitor messages: 16 KiB
  [fuzz_sk_attestation]=16384  # ssh-keygen attestations: ~0.5-2 KiB
  [fuzz_webauthn]=16384        # WebAuthn responses: a few KiB (authn caps parts at 64 KiB)
  [fuzz_cast_tail]=16384       # a live terminal recording, in pieces
  [fuzz_scim]=4096             # filters: 2048 bytes; users and PatchOps: a few KiB (the web server takes 16 KiB)
)
all_targets=(fuzz_ingress_name fuzz_selector fuzz_config fuzz_hr fuzz_sftp fuzz_cast fuzz_stream fuzz_command_index
             fuzz_public_key fuzz_known_hosts fuzz_tar fuzz_user_ca fuzz_split_words fuzz_wire fuzz_monitor fuzz_sk_attestation fuzz_webauthn
             fuzz_cast_tail fuzz_scim)
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
  if [ -z "${max_len[$t]:-}" ]; then
    echo "fuzz.sh: unknown target $t (one of: ${all_targets[*]})" >&2
    exit 2
  fi
done

# Toolchain: clang and its runtime libraries (libFuzzer, ASan, UBSan), plus
# the project's own build dependencies.
./scripts/deps.sh clang libclang-rt-14-dev

build="${BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBASTION_FUZZ=ON >/dev/null
ninja -C "$build" -j"${JOBS:-2}" "${targets[@]}"

work="$(mktemp -d /tmp/bastion-fuzz-XXXXXX)"
# Sanitizer reports abort the run, so libFuzzer records the input.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# fuzz_one TARGET: runs it on a copy of its seeds; its exit status lands in $work/TARGET/status.
fuzz_one() {
  local t="$1" dir="$work/$1" status=0
  mkdir -p "$dir/corpus" "$dir/artifacts"
  if [ -d "fuzz/corpus/$t" ]; then
    cp -R "fuzz/corpus/$t/." "$dir/corpus/"
  fi
  local args=(-max_total_time="$seconds" -max_len="${max_len[$t]}" -rss_limit_mb=2048 -timeout=25
              -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
  if [ -f "fuzz/dict/$t.dict" ]; then
    args+=(-dict="fuzz/dict/$t.dict")
  fi
  "$build/fuzz/$t" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1 || status=$?
  echo "$status" >"$dir/status"
}

# As many targets at once as JOBS (default 2: one per core).
parallel="${JOBS:-2}"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

failed=()
printf '%-18s %12s %8s %8s  %s\n' target execs cov corpus result
for t in "${targets[@]}"; do
  dir="$work/$t"
  status="$(cat "$dir/status" 2>/dev/null || echo "?")"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
  cov="$(grep -o ' cov: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*' || true)"
  units="$(find "$dir/corpus" -type f | wc -l)"
  artifact="$(find "$dir/artifacts" -type f | head -1)"
  if [ "$status" = "0" ] && [ -z "$artifact" ]; then
    result="ok"
  else
    result="FAILED (exit $status)"
    if [ -n "$artifact" ]; then
      result="$result input: $artifact"
    fi
    result="$result log: $dir/log"
    failed+=("$t")
  fi
  printf '%-18s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "$units" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo >&2
  for t in "${failed[@]}"; do
    echo "== $t: $work/$t/log" >&2
    pattern='ERROR: |FUZZ_CHECK|runtime error|terminate called|deadly signal|Test unit written'
    if grep -qE "$pattern" "$work/$t/log"; then
      grep -E -m1 -B2 -A30 "$pattern" "$work/$t/log" | grep -vE ' in fuzzer::|^ *#[0-9]+ .* in (main|_start|__libc_start)' | head -40 >&2 || true
    else
      tail -40 "$work/$t/log" >&2
    fi
  done
  echo "fuzz.sh: findings in: ${failed[*]}; inputs and logs kept in $work" >&2
  exit 1
fi
rm -rf "$work"
