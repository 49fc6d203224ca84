#!/usr/bin/env bash
# The runbook's manual rollback, now a thin wrapper over `pitwall rollback`:
#   bash scripts/rollback_release.sh --env-file deploy/.env.production \
#     --health-url http://127.0.0.1:8080/api/health/
# applies the PREVIOUS_* release of deploy/releases/state.env, verifies it and
# swaps the pointers. `--to RELEASE_ID` picks another release from the history.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pitwall="${PITWALL_BIN:-$(command -v pitwall || echo "$root/target/release/pitwall")}"
# Relative paths (--env-file) stay relative to where the script was run; the
# configuration defaults to this repository's deploy/pitwall.toml.
[ -x "$pitwall" ] || { echo "pitwall not found at $pitwall: run 'cargo build --release -p pitwall' or set PITWALL_BIN" >&2; exit 4; }
export PITWALL_CONFIG="${PITWALL_CONFIG:-$root/deploy/pitwall.toml}"
exec "$pitwall" rollback "$@"
