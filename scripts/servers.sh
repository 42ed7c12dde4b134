#!/usr/bin/env bash
# Install the real servers the tests start on free loopback ports (tests/servers.py): PostgreSQL and Redis,
# from the machine's own Debian release. Quiet on success and idempotent: does nothing when they are there.
# The packages' own services are stopped again: the tests start private instances, never the system ones.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    apt=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
    apt=(sudo apt-get)
else
    echo "servers: ${missing[*]} missing, and neither root nor sudo: install with apt-get install ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
has_candidate() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }
for package in "${missing[@]}"; do
    if ! has_candidate "$package"; then
        "${apt[@]}" update -qq >"$log" 2>&1 || { cat "$log" >&2; echo "servers: apt-get update failed" >&2; exit 1; }
        break
    fi
done
# policy-rc.d keeps the packages from starting their system services while they install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
status=0
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 || status=$?
[ "$made_policy" -eq 1 ] && rm -f "$policy"
if [ "$status" -ne 0 ]; then
    cat "$log" >&2
    echo "servers: apt-get install ${missing[*]} failed" >&2
    exit 1
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "servers: initdb is still missing" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "servers: redis-server is still not on PATH" >&2; exit 1; }
