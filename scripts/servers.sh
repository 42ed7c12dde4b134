#!/usr/bin/env bash
# Install the real servers the tests start on free loopback ports (tests/servers.py): PostgreSQL, Redis and
# MariaDB (the server of the MySQL drivers' tests), from the machine's own Debian release; and openssl, which
# makes the TLS receiver's certificate (tests/test_agent_tls.py). Quiet on success and idempotent: does
# nothing when they are there.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ "${#missing[@]}" -eq 0 ] && exit 0

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" servers "${missing[@]}"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "servers: initdb is still missing" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "servers: redis-server is still not on PATH" >&2; exit 1; }
[ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1 \
    || { echo "servers: mariadbd or mariadb-install-db is still missing" >&2; exit 1; }
