#!/usr/bin/env bash
# Builds {{name}}.wasm, the WebAssembly component pitwall runs:  ./build.sh
#
# componentize-py bundles app.py, the SDK (pitwall_check/) and a Python
# interpreter against the contract (wit/check.wit). It is installed with pip
# when missing. PYTHON picks the interpreter (default: python3).
set -euo pipefail
# PROJECT_DIR lets another script run this one for a project elsewhere.
cd "${PROJECT_DIR:-$(dirname "$0")}"

PYTHON="${PYTHON:-python3}"
# The componentize-py this project was made with; another version usually
# works but is not what was tested.
COMPONENTIZE_PY_VERSION="0.25.1"
name_wasm="{{name}}.wasm"
OUT="${OUT:-$name_wasm}"

say() { printf 'build.sh: %s\n' "$*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  say "$PYTHON not found: install Python 3.9+ or set PYTHON=/path/to/python3"
  exit 1
fi

if ! "$PYTHON" -c 'import componentize_py' >/dev/null 2>&1; then
  say "componentize-py is not installed for $PYTHON; installing componentize-py==$COMPONENTIZE_PY_VERSION with pip"
  if ! "$PYTHON" -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"; then
    say "could not install componentize-py (pip says why, above). Install it yourself:"
    say "  $PYTHON -m pip install componentize-py==$COMPONENTIZE_PY_VERSION"
    say "or, when pip refuses to install into this Python (\"externally managed\"), use a virtualenv:"
    say "  python3 -m venv .venv && . .venv/bin/activate && ./build.sh"
    exit 1
  fi
fi
installed="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("componentize-py"))')"
if [ "$installed" != "$COMPONENTIZE_PY_VERSION" ]; then
  say "note: componentize-py $installed (this project was made with $COMPONENTIZE_PY_VERSION)"
fi

# The SDK and the contract: next to app.py in a project made by
# `pitwall check new`; otherwise wherever $PYTHON imports pitwall_check from
# (`pip install pitwall-check`, or pip install sdk/python in pitwall's repository).
if [ -d pitwall_check ] && [ -f wit/check.wit ]; then
  sdk_path=.
  wit_dir=wit
elif located="$("$PYTHON" -c 'import os, pitwall_check as p; print(os.path.dirname(os.path.dirname(os.path.abspath(p.__file__)))); print(p.wit_dir())' 2>/dev/null)"; then
  sdk_path="$(printf '%s\n' "$located" | sed -n 1p)"
  wit_dir="$(printf '%s\n' "$located" | sed -n 2p)"
else
  say "the SDK is missing: expected pitwall_check/ and wit/check.wit next to app.py"
  say "(\`pitwall check new\` writes them), or pitwall_check importable by $PYTHON (pip install pitwall-check)"
  exit 1
fi

# Run through $PYTHON rather than the `componentize-py` script, which pip may
# have put in a folder that is not on PATH. componentize-py imports app.py
# while building, so a mistake in it fails here: RUST_LIB_BACKTRACE=0 keeps
# its report to the Python traceback (no Rust backtrace under RUST_BACKTRACE=1).
paths=(-p .)
[ "$sdk_path" = . ] || paths+=(-p "$sdk_path")
if ! RUST_LIB_BACKTRACE=0 "$PYTHON" -c \
  'import sys, componentize_py; sys.argv[0] = "componentize-py"; sys.exit(componentize_py.script())' \
  -d "$wit_dir" -w check componentize "${paths[@]}" app -o "$OUT"; then
  say "componentize-py failed (above). An error in app.py shows up faster in: python3 -m unittest"
  exit 1
fi

say "built $OUT ($(wc -c <"$OUT" | tr -d ' ') bytes). Next: pitwall check test; pitwall check inspect $OUT"
