#!/usr/bin/env bash
# Builds the Debian package (contrib/debian) with dpkg-buildpackage, checks it
# with lintian, and, with --install-test, installs it on this machine and
# runs a smoke test against the installed service (then purges it again).
#
#   scripts/package.sh                  # build + lintian: dist/bastion_*.deb
#   scripts/package.sh --install-test   # ... then install, start, ssh through it, purge
#
# The package is built from a copy of the tracked files (git ls-files) in a
# temporary directory, so the working tree gets no debian/ folder.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
install_test=0
for a in "$@"; do
  case "$a" in
    --install-test) install_test=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

./scripts/deps.sh debhelper dpkg-dev fakeroot help2man lintian

# The package's version is the changelog's; it must be the one CMake builds.
version="$(dpkg-parsechangelog -l contrib/debian/changelog -S Version)"
cmake_version="$(sed -n 's/^project(bastion VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
if [ "$version" != "$cmake_version" ]; then
  echo "package.sh: contrib/debian/changelog says $version, CMakeLists.txt $cmake_version: add a changelog entry (dch -v $cmake_version)" >&2
  exit 1
fi

work="$(mktemp -d /tmp/bastion-package-XXXXXX)"
trap 'rm -rf "$work"' EXIT
src="$work/bastion-$version"
mkdir -p "$src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$src"
# The web console's front-end packages (npm ci from the lock file; not in git).
cp -r gateway/web/assets/node_modules "$src/gateway/web/assets/"
cp -rL contrib/debian "$src/debian"

start=$(date +%s)
(cd "$src" && DEB_BUILD_OPTIONS="parallel=${JOBS:-2}" dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || {
  tail -50 "$work/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed (the log's end is above)" >&2
  exit 1
}
echo "built in $(( $(date +%s) - start )) s:"
mkdir -p dist
rm -f dist/bastion_* dist/bastion-dbgsym_*
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.changes "$work"/*.buildinfo; do
  [ -e "$f" ] && cp "$f" dist/ && echo "  dist/$(basename "$f")"
done
deb="dist/bastion_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"

# lintian clean: no error, no warning (informational tags are printed, not fatal).
lintian --fail-on error,warning --info --display-level '>=info' "$deb"
echo "lintian: clean"

[ "$install_test" -eq 1 ] || exit 0
exec "$root/tests/package/install_test.sh" "$deb"
