#!/usr/bin/env bash
# Idempotent machine set-up for Preflight: Debian packages when absent, then the locked Python deps.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15 postgresql-client-15)
have_cmd redis-server || need+=(redis-server)
have_cmd chromium || [ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s fonts-liberation >/dev/null 2>&1 || need+=(fonts-liberation)
have_cmd promtool || need+=(prometheus)
have_cmd npm || need+=(npm)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${need[*]}); run 'sudo make setup' once" >&2
    exit 2
  fi
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

uv=(uv)
if ! have_cmd uv; then
  if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "setup: installing uv"
    python3 -m pip install --quiet --disable-pip-version-check uv
  fi
  uv=(python3 -m uv)
fi
export UV_LINK_MODE=copy
"${uv[@]}" sync --frozen --quiet

if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  have_cmd npm || { echo "setup: npm is missing (Debian package npm)" >&2; exit 2; }
  echo "setup: installing npm packages (Allure renderer)"
  npm ci --no-audit --no-fund --loglevel=error
fi
