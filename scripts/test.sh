#!/usr/bin/env bash
# The whole test suite: unit tests, check runtime tests, hostile guests and
# the end-to-end deploy tests against the real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
