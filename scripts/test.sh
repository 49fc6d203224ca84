#!/usr/bin/env bash
# The whole test suite, in the order that fails fastest:
#   1. lint gate: rustfmt and clippy (warnings are errors);
#   2. the fast tier: unit tests, the rollout state machine on an in-memory
#      engine, the check runtime and hostile guests — run with DOCKER_HOST
#      pointing nowhere, which proves they need no Docker;
#   3. the Docker suite: end to end on the real engine and registry, once
#      with Compose v2 (`docker compose`) and once with Debian's v1
#      (`docker-compose`, forced with PITWALL_COMPOSE); then the Swarm
#      engine on a single-node swarm the tests make and leave, and on a
#      two-node one (a second dockerd in a network namespace, as root);
#   4. the real-stack tier: PostgreSQL, Django on gunicorn and nginx from
#      Debian packages (images from scripts/realstack.sh, cached under
#      target/realstack), deployed scenario by scenario, once, with v2;
#   5. the Python check kit (scripts/python-kit.sh): SDK tests, the template
#      and the example built with componentize-py and run by `check test`.
# Extra arguments go to the test runner of both tiers (e.g. a name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "==> lint: cargo fmt --check, cargo clippy -D warnings, actionlint" >&2
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
bash scripts/actionlint.sh

# Test binaries that need the Docker engine; everything else is the fast tier.
docker_tests=(deploy operate zero_downtime blue_green)
# Docker tests that load the machine themselves and need it to keep up: on
# their own, after the others (Docker 20.10's log follow skips lines at a
# rotation when its reader lags, and twenty tests beside it make it lag).
alone_tests=(log_window)
# Those that make a swarm of the daemon: after the others, one at a time.
swarm_tests=(swarm swarm_nodes)
# The real stack: slow to start (a database, migrations), so run once, with
# Compose v2, its images built first (cold: a debootstrap; warm: seconds).
realstack_tests=(real_stack)

# The real stack's images build (a debootstrap when cold, mostly waiting on
# the package mirror) while the fast tier compiles and runs; the Docker
# tiers, which need the machine to keep up, start once it is done.
realstack_log="$(mktemp)"
bash scripts/realstack.sh >"$realstack_log" 2>&1 &
realstack_build=$!
# A failed image build fails the suite at the end, after the other tiers ran.
realstack_built=yes
realstack_images() {
  wait "$realstack_build" && return 0
  cat "$realstack_log" >&2
  echo "the real stack's images did not build (log above): its tier is skipped, the suite fails" >&2
  realstack_built=no
}

echo "==> doctests (nextest does not run them)" >&2
DOCKER_HOST=unix:///nonexistent cargo test --workspace --doc --quiet

echo "==> fast tier (no Docker)" >&2
if cargo nextest --version >/dev/null 2>&1; then
  docker_filter="$(printf 'binary(%s) | ' "${docker_tests[@]}")none()"
  alone_filter="$(printf 'binary(%s) | ' "${alone_tests[@]}")none()"
  swarm_filter="$(printf 'binary(%s) | ' "${swarm_tests[@]}")none()"
  realstack_filter="$(printf 'binary(%s) | ' "${realstack_tests[@]}")none()"
  DOCKER_HOST=unix:///nonexistent \
    cargo nextest run --workspace --no-fail-fast \
    -E "not ($docker_filter | $alone_filter | $swarm_filter | $realstack_filter)" "$@"
  realstack_images
  for compose in plugin docker-compose; do
    echo "==> Docker suite, compose: $compose" >&2
    PITWALL_COMPOSE="$compose" \
      cargo nextest run --workspace --no-fail-fast -E "$docker_filter" "$@"
    PITWALL_COMPOSE="$compose" \
      cargo nextest run --workspace --no-fail-fast --test-threads 1 -E "$alone_filter" "$@"
  done
  echo "==> Docker Swarm suite (a swarm made and left by the tests)" >&2
  cargo nextest run --workspace --no-fail-fast -E "$swarm_filter" "$@"
  echo "==> Real-stack tier" >&2
  [ "$realstack_built" = yes ] &&
    PITWALL_COMPOSE=plugin cargo nextest run --workspace --no-fail-fast -E "$realstack_filter" "$@"
else
  fast=()
  for t in tests/*.rs; do
    name="$(basename "$t" .rs)"
    [[ " ${docker_tests[*]} ${alone_tests[*]} ${swarm_tests[*]} ${realstack_tests[*]} " == *" $name "* ]] ||
      fast+=(--test "$name")
  done
  DOCKER_HOST=unix:///nonexistent \
    cargo test --workspace --lib --bins "${fast[@]}" --no-fail-fast -- "$@"
  realstack_images
  for compose in plugin docker-compose; do
    echo "==> Docker suite, compose: $compose" >&2
    PITWALL_COMPOSE="$compose" \
      cargo test -p pitwall $(printf -- '--test %s ' "${docker_tests[@]}") --no-fail-fast -- "$@"
    PITWALL_COMPOSE="$compose" \
      cargo test -p pitwall $(printf -- '--test %s ' "${alone_tests[@]}") --no-fail-fast -- \
      --test-threads 1 "$@"
  done
  echo "==> Docker Swarm suite (a swarm made and left by the tests)" >&2
  cargo test -p pitwall $(printf -- '--test %s ' "${swarm_tests[@]}") --no-fail-fast -- "$@"
  echo "==> Real-stack tier" >&2
  [ "$realstack_built" = yes ] &&
    PITWALL_COMPOSE=plugin \
      cargo test -p pitwall $(printf -- '--test %s ' "${realstack_tests[@]}") --no-fail-fast -- "$@"
fi

echo "==> Python check kit" >&2
bash scripts/python-kit.sh

# The Rust SDK as crates.io would take it: packaged, then built from the
# package alone (verification), nothing uploaded.
echo "==> Rust SDK package: cargo publish --dry-run -p pitwall-check" >&2
cargo publish --dry-run --quiet --allow-dirty -p pitwall-check
[ "$realstack_built" = yes ] || { echo "failed: the real stack's images did not build" >&2; exit 1; }
