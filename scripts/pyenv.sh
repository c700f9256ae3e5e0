#!/usr/bin/env bash
# Prints the path of the project's Python virtual environment, creating it on first use.
# The venv lives outside the checkout (fresh clones reuse it), keyed by the requirements' hash.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
nodeps="$here/requirements-nodeps.txt"  # packages whose declared dependencies requirements.txt replaces
hash="$(cat "$req" "$nodeps" | sha256sum | cut -c1-16)"
root="${IRFACE_PYENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/irface}"
venv="$root/venv-$hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "irface: creating Python environment in $venv (first run only)" >&2
  rm -rf "$venv"
  mkdir -p "$root"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$nodeps" >&2
  touch "$venv/.complete"
fi
echo "$venv"
