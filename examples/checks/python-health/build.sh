#!/usr/bin/env bash
# Builds python-health.wasm with the template's own build script, so the
# example builds exactly as a project from `pitwall check new` does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PROJECT_DIR="$here" OUT="python-health.wasm" exec bash "$here/../../../templates/python/build.sh" "$@"
