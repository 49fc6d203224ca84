#!/usr/bin/env bash
# The Python SDK as users get it: `python -m build` makes a wheel and an
# sdist of sdk/python (in target/python-package/dist); each is installed
# into a fresh virtualenv and the SDK's unit tests run against the installed
# files, not the source tree (PITWALL_SDK_INSTALLED=1 tells the tests so).
# Run by scripts/python-kit.sh. Needs python3 (3.9+) and access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/target/python-package"
export PYTHONDONTWRITEBYTECODE=1
step() { printf '==> %s\n' "$*" >&2; }

step "python -m build: wheel and sdist of sdk/python"
rm -rf "$out"
mkdir -p "$out"
python3 -m venv "$out/build-venv"
"$out/build-venv/bin/python" -m pip install --quiet --disable-pip-version-check build
# A copy: the build writes into the tree it builds (egg-info), and the
# repository's contract is a symlink that the copy must resolve.
cp -rL "$root/sdk/python" "$out/src"
"$out/build-venv/bin/python" -m build --outdir "$out/dist" "$out/src" >"$out/build.log" 2>&1 ||
  { cat "$out/build.log" >&2; exit 1; }

for kind in whl tar.gz; do
  artifact="$(ls "$out"/dist/*."$kind")"
  step "install $(basename "$artifact") into a fresh virtualenv; the SDK's tests against it"
  venv="$out/venv-${kind%%.*}"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$artifact"
  (cd "$out" && PITWALL_SDK_INSTALLED=1 "$venv/bin/python" -m unittest discover -s "$root/sdk/python/tests")
done
step "python package: ok"
