#!/usr/bin/env bash
# mypy cannot follow the editable install's import hook, so check the package
# through a temporary tree of symlinks shaped like the installed one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/flowyard"
for pkg in dsl compiler interpreter; do ln -s "$root/$pkg" "$tmp/flowyard/$pkg"; done
cd "$tmp"
python3 -m mypy --config-file "$root/pyproject.toml" -p flowyard
