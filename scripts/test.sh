#!/usr/bin/env bash
# Runs every test: TypeScript (node's test runner) then Python (pytest in the cached venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t ts_tests < <(find server gallery scripts -name '*.test.ts' -not -path '*/node_modules/*' | sort)
echo "== TypeScript tests (${#ts_tests[@]} files)"
node --import tsx --test --test-concurrency=1 "${ts_tests[@]}"
venv="$(bash scripts/pyenv.sh)"
echo "== Python tests"
"$venv/bin/python" -m pytest -q scripts/tests
