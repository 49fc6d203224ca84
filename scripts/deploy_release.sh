#!/usr/bin/env bash
# The runbook's deploy command, now a thin wrapper over `pitwall deploy`:
#   bash scripts/deploy_release.sh --backend-image REF --frontend-image REF \
#     --release-id ID --env-file deploy/.env.production \
#     --health-url http://127.0.0.1:8080/api/health/
# Other options are passed to pitwall as they are (see `pitwall deploy --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pitwall="${PITWALL_BIN:-$(command -v pitwall || echo "$root/target/release/pitwall")}"
# Relative paths (--env-file) stay relative to where the script was run; the
# configuration defaults to this repository's deploy/pitwall.toml.
[ -x "$pitwall" ] || { echo "pitwall not found at $pitwall: run 'cargo build --release -p pitwall' or set PITWALL_BIN" >&2; exit 4; }
export PITWALL_CONFIG="${PITWALL_CONFIG:-$root/deploy/pitwall.toml}"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend-image) args+=(--image "api=$2"); shift 2 ;;
    --frontend-image) args+=(--image "frontend=$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
exec "$pitwall" deploy "${args[@]}"
