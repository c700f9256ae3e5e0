#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium for the browser test; installs it with apt-get when it can.
# Exit 0: chromium is there (found or installed). Exit 3: it is missing and cannot be installed here; the
# last line of output says why (server/http/web-browser.test.ts shows that line when it skips).
# Playwright's own browser download is never used: the test drives the distribution's chromium.
set -uo pipefail

CHROMIUM=/usr/bin/chromium

present() {
  [ -x "$CHROMIUM" ] && echo "chromium: $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"
}
cannot() {
  echo "cannot install chromium: $*"
  exit 3
}

present && exit 0

command -v apt-get >/dev/null 2>&1 || cannot "$CHROMIUM is missing and apt-get is not available (not a Debian/Ubuntu system); install chromium by hand"
[ "$(id -u)" -eq 0 ] || cannot "$CHROMIUM is missing and installing needs root; run: sudo apt-get install -y chromium"

echo "chromium: $CHROMIUM is missing; installing the distribution package with apt-get"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Package lists are often absent on fresh images; without network this is where it fails.
if ! apt-get update -qq >"$log" 2>&1; then
  tail -n 5 "$log"
  cannot "apt-get update failed (no network or no package sources?)"
fi
# Fonts so the page and the screenshot render text; the sandbox helper is not needed (--no-sandbox).
if ! apt-get install -y -qq --no-install-recommends chromium fonts-liberation >"$log" 2>&1; then
  tail -n 5 "$log"
  cannot "apt-get install chromium failed (see the lines above)"
fi
present || cannot "apt-get installed chromium but $CHROMIUM is still missing"
