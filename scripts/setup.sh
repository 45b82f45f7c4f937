#!/usr/bin/env bash
# Installs what polyfork's demos and tests need and is missing on this machine, and nothing
# else: Debian packages (PHP with ext-msgpack, PHPUnit, Debian's python3-msgpack), msgpack
# and pytest (and numpy, for examples/polyglot) for the python3 on PATH, and the npm packages
# of the Node client and of examples/polyglot. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

command -v go >/dev/null || { say "Go is missing: install Go 1.26 from https://go.dev/dl/ first"; exit 1; }

# Debian packages, only those missing.
missing=()
command -v php >/dev/null || missing+=(php-cli)
{ command -v php >/dev/null && php -m 2>/dev/null | grep -i '^msgpack$' >/dev/null; } || missing+=(php-msgpack)
{ command -v php >/dev/null && php -m 2>/dev/null | grep -i '^mbstring$' >/dev/null; } || missing+=(php-mbstring)
command -v phpunit >/dev/null || missing+=(phpunit)
command -v composer >/dev/null || missing+=(composer)
if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import msgpack' 2>/dev/null; then missing+=(python3-msgpack); fi
if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import pytest' 2>/dev/null; then missing+=(python3-pytest); fi
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "please install: ${missing[*]} (no apt-get here)"
  fi
fi

# msgpack and pytest for the python3 on PATH (which may not be Debian's).
py="${POLYFORK_PYTHON:-python3}"
if ! "$py" -c 'import msgpack, pytest' 2>/dev/null; then
  say "installing msgpack and pytest for $py"
  "$py" -m pip install --quiet --disable-pip-version-check 'msgpack>=1.0' pytest 2>/dev/null \
    || "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages 'msgpack>=1.0' pytest
fi

# numpy for examples/polyglot's Python stage.
if ! "$py" -c 'import numpy' 2>/dev/null; then
  say "installing numpy for $py (examples/polyglot)"
  "$py" -m pip install --quiet --disable-pip-version-check -r examples/polyglot/requirements.txt 2>/dev/null \
    || "$py" -m pip install --quiet --disable-pip-version-check --break-system-packages -r examples/polyglot/requirements.txt
fi

# The npm packages of the Node client and of examples/polyglot's Node stage, exactly as locked.
# A node_modules that is a symbolic link (shared with another checkout) is left alone: npm ci
# would empty the directory it points to.
for dir in clients/node examples/polyglot; do
  if [ -f "$dir/package-lock.json" ] && [ ! -L "$dir/node_modules" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      say "installing the npm packages of $dir (npm ci)"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  fi
done
say "ready"
