#!/usr/bin/env bash
# The demo: builds pitwall and the fixture app, builds three images of the
# fixture app (two healthy releases and one whose health endpoint answers
# 503), then `pitwall demo` deploys 1.0, 1.1 and the broken 1.2, which is
# rolled back automatically.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p fixture-app --target x86_64-unknown-linux-musl
cargo build --release -p pitwall

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp target/x86_64-unknown-linux-musl/release/fixture-app "$ctx/fixture-app"
image() { # TAG MODE VERSION
  docker build --quiet --tag "$1" --build-arg "MODE=$2" --build-arg "VERSION=$3" \
    --file tests/fixture-app/Dockerfile "$ctx" >/dev/null
  echo "$1"
}
echo "==> building fixture images" >&2
good="$(image pitwall-demo/app:1.0 healthy 1.0)"
next="$(image pitwall-demo/app:1.1 healthy 1.1)"
broken="$(image pitwall-demo/app:1.2-broken health503 1.2)"
target/release/pitwall demo --good "$good" --next "$next" --broken "$broken" "$@"
