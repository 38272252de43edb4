#!/usr/bin/env bash
# House rules a tool keeps, on the files changed since a base commit:
# clang-format (.clang-format) on every changed C++ file, and clang-tidy
# (.clang-tidy: bugprone, cert, performance checks, warnings as errors) on the
# changed non-test sources. CI runs it after scripts/test.sh (it needs the
# build's compile_commands.json).
#
#   scripts/lint.sh [--base REV] [--all] [--fix]
#
# --base REV  compare with REV (default: the commit in .ci/lint-base, the
#             last one CI checked; move it forward when a stop lands)
# --all       every file, not only the changed ones (slow: ~20 s per file)
# --fix       rewrite files with clang-format instead of failing
set -euo pipefail
cd "$(dirname "$0")/.."
base="$(cat .ci/lint-base 2>/dev/null || true)"
all=0
fix=0
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    --all) all=1; shift ;;
    --fix) fix=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lint.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
build="${BUILD_DIR:-build}"
if [ ! -f "$build/compile_commands.json" ]; then
  echo "lint.sh: $build/compile_commands.json is missing; run scripts/build.sh first" >&2
  exit 2
fi
if [ "$all" -eq 1 ]; then
  files=$(git ls-files '*.cpp' '*.h')
else
  if ! git rev-parse --verify -q "$base^{commit}" >/dev/null; then
    # A shallow clone: the newest commit is all there is to compare.
    echo "lint.sh: base commit '$base' is not in this clone; checking the last commit's files only" >&2
    base="HEAD~1"
    git rev-parse --verify -q "$base^{commit}" >/dev/null || base="$(git hash-object -t tree /dev/null)"
  fi
  files=$(git diff --name-only --diff-filter=d "$base" HEAD -- '*.cpp' '*.h')
fi
if [ -z "$files" ]; then
  echo "lint.sh: no C++ file changed since $base"
  exit 0
fi
status=0
if [ "$fix" -eq 1 ]; then
  clang-format -i $files
else
  unformatted=$(for f in $files; do clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
  if [ -n "$unformatted" ]; then
    echo "lint.sh: not formatted as .clang-format says (scripts/lint.sh --fix rewrites them):" >&2
    echo "$unformatted" | sed 's/^/  /' >&2
    status=1
  fi
fi
sources=$(echo "$files" | grep '\.cpp$' | grep -v '_test\.cpp$\|^tests/\|^fuzz/\|^bench/' || true)
if [ -n "$sources" ]; then
  count=$(echo "$sources" | wc -l)
  echo "lint.sh: clang-tidy on $count changed source file(s)"
  if ! echo "$sources" | xargs -P "${JOBS:-2}" -n 1 clang-tidy -p "$build" --quiet 2>/dev/null; then
    echo "lint.sh: clang-tidy found problems (above)" >&2
    status=1
  fi
fi
[ "$status" -eq 0 ] && echo "lint.sh: ok"
exit "$status"
