#!/usr/bin/env bash
# Install what `make bench` needs from Debian: wrk, the HTTP load generator (bench times start-up itself).
# Quiet on success and idempotent: does nothing when the tools are on PATH. Refreshes the package lists only
# when apt has no candidate for a missing tool. Runs apt-get directly as root, or through sudo when it is there.
set -euo pipefail

missing=()
for tool in wrk; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    apt=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
    apt=(sudo apt-get)
else
    echo "bench-deps: ${missing[*]} missing, and neither root nor sudo: install with apt-get install ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
has_candidate() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }
for tool in "${missing[@]}"; do
    if ! has_candidate "$tool"; then
        "${apt[@]}" update -qq >"$log" 2>&1 || { cat "$log" >&2; echo "bench-deps: apt-get update failed" >&2; exit 1; }
        break
    fi
done
if ! "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    echo "bench-deps: apt-get install ${missing[*]} failed" >&2
    exit 1
fi
for tool in "${missing[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-deps: $tool is still not on PATH" >&2; exit 1; }
done
