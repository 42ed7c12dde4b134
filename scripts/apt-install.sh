#!/usr/bin/env bash
# Install Debian packages for the project's own tools: `apt-install.sh WHO PACKAGE...`, as root or through sudo.
# Refreshes the package lists only when apt has no candidate for one of them; keeps the packages' services from
# starting while they install (the tests start private instances, never the system ones); quiet on success,
# the apt log and one line naming WHO on failure. Waits (up to 5 min) for another apt run to release its lock.
set -euo pipefail

who="$1"
shift
[ "$#" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    apt=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
    apt=(sudo apt-get)
else
    echo "$who: $* missing, and neither root nor sudo: install with apt-get install $*" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() { rm -f "$log"; [ "$made_policy" -eq 1 ] && rm -f "$policy"; return 0; }
trap cleanup EXIT

has_candidate() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }
for package in "$@"; do
    if ! has_candidate "$package"; then
        "${apt[@]}" -o DPkg::Lock::Timeout=300 update -qq >"$log" 2>&1 || { cat "$log" >&2; echo "$who: apt-get update failed" >&2; exit 1; }
        break
    fi
done
if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
if ! "${apt[@]}" -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "$who: apt-get install $* failed" >&2
    exit 1
fi
