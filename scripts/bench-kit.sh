#!/usr/bin/env bash
# The check authoring kit's goals, measured: from `pitwall check new` to a
# passing `pitwall check test` per language (warm toolchains, cold project),
# and a warm `check test` of one case (one whole process: load the cached
# compiled component, run it against canned answers). Prints a Markdown
# table; BENCHMARKS.md keeps a copy.
#   bash scripts/bench-kit.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p pitwall
pitwall="$PWD/target/release/pitwall"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PITWALL_CACHE_DIR="$work/cache"

ms() { date +%s%3N; }

# Median wall time (ms) of 21 runs of the command.
median_ms() {
  local runs=()
  for _ in $(seq 21); do
    local t0; t0=$(ms)
    "$@" >/dev/null
    runs+=($(( $(ms) - t0 )))
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 11p
}

echo "| measure | result | goal |"
echo "|---|---|---|"

# Rust: new → cargo build (cold project, warm toolchain) → check test.
cd "$work"
t0=$(ms)
"$pitwall" check new rust-bench --lang rust >/dev/null
(cd rust-bench && cargo build --release --quiet --target wasm32-wasip2 && "$pitwall" check test >/dev/null)
echo "| Rust: \`check new\` → build → passing \`check test\` | $(( ($(ms) - t0) / 1000 )) s | ≤ 60 s |"
rust_case="$work/rust-bench/tests/sample.toml"
echo "| Rust: warm \`check test\` of one case, whole process (median of 21) | $(median_ms "$pitwall" check test "$rust_case") ms | ≤ 15 ms |"

# Python: new → build.sh (componentize-py already installed) → check test.
# scripts/python-kit.sh keeps componentize-py in a virtualenv under target/.
venv="$OLDPWD/target/python-kit/venv"
[ -x "$venv/bin/python" ] && export PATH="$venv/bin:$PATH" PYTHON="$venv/bin/python"
if command -v componentize-py >/dev/null 2>&1; then
  t0=$(ms)
  "$pitwall" check new python-bench --lang python >/dev/null
  (cd python-bench && ./build.sh >/dev/null && "$pitwall" check test >/dev/null)
  echo "| Python: \`check new\` → build → passing \`check test\` | $(( ($(ms) - t0) / 1000 )) s | ≤ 30 s |"
  py_case="$(ls "$work"/python-bench/tests/*.toml | head -1)"
  echo "| Python: warm \`check test\` of one case, whole process (median of 21) | $(median_ms "$pitwall" check test "$py_case") ms | ≤ 60 ms |"
  wasm="$(ls "$work"/python-bench/*.wasm | head -1)"
  echo "| Python: component size | $(( $(stat -c %s "$wasm") / 1024 / 1024 )) MB | |"
  fresh="$work/fresh-cache"
  t0=$(ms)
  PITWALL_CACHE_DIR="$fresh" "$pitwall" check precompile "$wasm" >/dev/null
  echo "| Python: compile to native code (\`check precompile\`, empty cache) | $(( $(ms) - t0 )) ms | |"
  echo "| Python: its compiled form in the cache | $(( $(du -sk "$fresh" | cut -f1) / 1024 )) MB | |"
else
  echo "| Python | componentize-py missing: run scripts/python-kit.sh first | |"
fi
