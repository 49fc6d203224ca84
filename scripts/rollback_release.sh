#!/usr/bin/env bash
# The runbook's manual rollback, now a thin wrapper over `pitwall rollback`:
#   bash scripts/rollback_release.sh --env-file deploy/.env.production \
#     --health-url http://127.0.0.1:8080/api/health/
# applies the PREVIOUS_* release of deploy/releases/state.env, verifies it and
# swaps the pointers. `--to RELEASE_ID` picks another release from the history.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pitwall="${PITWALL_BIN:-$(command -v pitwall || echo "$root/target/release/pitwall")}"
cd "$root"
exec "$pitwall" rollback "$@"
