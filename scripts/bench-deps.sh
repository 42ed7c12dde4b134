#!/usr/bin/env bash
# Install what `make bench` needs from Debian: wrk, the HTTP load generator (bench times start-up itself).
# Quiet on success and idempotent: does nothing when the tools are on PATH (scripts/apt-install.sh otherwise).
set -euo pipefail

missing=()
for tool in wrk; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" bench-deps "${missing[@]}"
for tool in "${missing[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-deps: $tool is still not on PATH" >&2; exit 1; }
done
