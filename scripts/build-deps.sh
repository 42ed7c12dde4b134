#!/usr/bin/env bash
# Install the Debian headers that the dev extra's compiled packages build against, before `make setup`'s pip
# install: mysqlclient (MySQLdb) has no Linux wheel and builds against libmariadb through pkg-config. Quiet on
# success and idempotent: does nothing when pkg-config already finds the library (scripts/apt-install.sh).
set -euo pipefail

command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libmariadb 2>/dev/null && exit 0

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" build-deps pkg-config libmariadb-dev
pkg-config --exists libmariadb 2>/dev/null || { echo "build-deps: pkg-config still finds no libmariadb" >&2; exit 1; }
