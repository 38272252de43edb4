#!/usr/bin/env bash
# Configures and builds bastion into ./build (or $BUILD_DIR). Arguments name ninja targets (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j"${JOBS:-2}" "$@"
