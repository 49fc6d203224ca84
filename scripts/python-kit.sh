#!/usr/bin/env bash
# The Python check kit, end to end, in a virtualenv under target/:
#   1. installs componentize-py (pinned) and the SDK package (pip install sdk/python),
#      and checks the installed package carries the contract itself;
#   2. the SDK's unit tests (plain CPython);
#   3. the template, from `pitwall check new NAME --lang python`: its unit
#      tests pass untouched and it builds;
#   4. the example (examples/checks/python-health): unit tests, build;
#   5. `pitwall check test` on the template and the example;
#   6. the SDK as users get it: a wheel and an sdist (`python -m build`), each
#      installed in a fresh virtualenv and tested (scripts/python-package.sh).
# Needs python3 (3.9+) and access to PyPI. Takes about a minute (two
# componentize-py builds).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

COMPONENTIZE_PY_VERSION="0.25.1"   # keep in step with templates/python/build.sh
venv="$root/target/python-kit/venv"
py="$venv/bin/python"
# No __pycache__ in the repository: `pitwall check new` embeds sdk/python/pitwall_check.
export PYTHONDONTWRITEBYTECODE=1

step() { printf '==> %s\n' "$*" >&2; }
pitwall="${PITWALL_BIN:-$root/target/debug/pitwall}"

step "virtualenv $venv: componentize-py==$COMPONENTIZE_PY_VERSION and the SDK (sdk/python)"
[ -x "$py" ] || python3 -m venv "$venv"
"$py" -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
"$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$root/sdk/python"
# pip builds in the source tree; its leftovers are not part of the SDK.
rm -rf "$root/sdk/python/build" "$root"/sdk/python/*.egg-info
installed_wit="$("$py" -c 'import pitwall_check; print(pitwall_check.contract_path())')"
if [ -L "$installed_wit" ] || ! cmp -s "$installed_wit" "$root/wit/check.wit"; then
  echo "the installed pitwall_check does not carry wit/check.wit as a file equal to the repository's" >&2
  exit 1
fi

step "SDK unit tests"
(cd "$root" && "$py" -m unittest discover -s sdk/python/tests)

# Unit tests run from the project folder, where they import app.py.
unit() { (cd "$1" && "$py" -m unittest 2>&1 | tail -n 3); }
build() { (cd "$1" && PYTHON="$py" ./build.sh); }

step "template: \`pitwall check new kit-probe --lang python\`"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
project="$scratch/kit-probe"
"$pitwall" check new kit-probe --lang python --dir "$project" >/dev/null
if grep -rIl '{{\(name\|module\)}}' "$project"; then
  echo "placeholders left in the files above" >&2
  exit 1
fi
unit "$project"
build "$project"

example="$root/examples/checks/python-health"
step "example: $example"
unit "$example"
build "$example"

# ---------------------------------------------------------------------------
step "pitwall check test: template and example"
(cd "$project" && "$pitwall" check test)
(cd "$example" && "$pitwall" check test)

bash "$root/scripts/python-package.sh"

step "python kit: ok"
