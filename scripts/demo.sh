#!/usr/bin/env bash
# The demo: builds pitwall and the fixture app, then `pitwall demo` builds the
# fixture images and deploys 1.0, 1.1 and a broken 1.2 that is rolled back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p fixture-app --target x86_64-unknown-linux-musl
cargo build --release -p pitwall
exec target/release/pitwall demo --fixture-bin target/x86_64-unknown-linux-musl/release/fixture-app "$@"
