#!/usr/bin/env bash
# Unpack the real tools the tests use into .tools/: VictoriaMetrics (a PromQL engine that ingests OTLP),
# promtool (checks and unit-tests alert rules), amtool (checks the Alertmanager configuration), and the Docker client with its compose plugin (no engine: `obs
# check` uses `docker compose config`, and the tests drive `obs up` against an engine that is not there).
# They come from Debian's newest suite, which the machine's own release does not carry, so this downloads the
# .deb files with a private apt configuration for that suite (the mirror is the one the machine already uses)
# and unpacks them with `dpkg -x`. Nothing is installed system-wide. Quiet on success; does nothing when the
# binaries are already there and run.
#
#   .tools/bin/victoria-metrics  .tools/bin/promtool  .tools/bin/amtool  .tools/bin/docker
#   .tools/docker/cli-plugins/docker-compose   (found by the client with DOCKER_CONFIG=.tools/docker)
#
#   OBS_DEBIAN_SUITE   suite to take the packages from (default: sid)
#   OBS_TOOLS_DIR      where to unpack (default: <repo>/.tools)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${OBS_TOOLS_DIR:-$repo/.tools}"
bin="$tools/bin"
suite="${OBS_DEBIAN_SUITE:-sid}"

runs() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

plugins="$tools/docker/cli-plugins"

if runs "$bin/victoria-metrics" && runs "$bin/promtool" && runs "$bin/amtool" && runs "$bin/docker" \
    && DOCKER_CONFIG="$tools/docker" "$bin/docker" compose version >/dev/null 2>&1; then
    exit 0
fi

fail() { echo "debian-tools: $*" >&2; exit 1; }

# The machine's Debian mirror and keyring: the first entry for the main archive (not -security) of its own
# apt sources, in deb822 (*.sources) or one-line (*.list) form.
mirror=""
keyring=""
for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    read -r mirror keyring < <(awk '
        function flush() {
            if (uri != "" && suites !~ /-security/ && uri ~ /debian\/?$/) { print uri, key; found = 1; exit }
            uri = ""; suites = ""; key = ""
        }
        /^[[:space:]]*$/ { flush(); next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { suites = $0 }
        /^Signed-By:/ { key = $2 }
        END { if (!found) flush() }
    ' "$file") || true
    [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        mirror="$(awk '$1 == "deb" && $0 !~ /-security/ {
            for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$file")"
        [ -n "$mirror" ] && break
    done
fi
[ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list{,.d}; add one, or set OBS_VICTORIA_METRICS and OBS_PROMTOOL"
mirror="${mirror%/}"
[ -n "$keyring" ] && [ -f "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/prefs" "$work/debs"
: >"$work/status"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$work/sources.list"

apt_private=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::Etc::Preferences=$work/prefs/none"
    -o "Dir::Etc::PreferencesParts=$work/prefs"
    -o "Dir::State=$work"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::State::status=$work/status"
    -o "Dir::Cache=$work/cache"
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
    -o "Debug::NoLocking=1"
)

apt-get -qq "${apt_private[@]}" update >"$work/update.log" 2>&1 \
    || { cat "$work/update.log" >&2; fail "apt-get update for suite '$suite' failed"; }
(cd "$work/debs" && apt-get -qq "${apt_private[@]}" download victoria-metrics promtool prometheus-alertmanager docker-cli docker-compose) >"$work/download.log" 2>&1 \
    || { cat "$work/download.log" >&2; fail "apt-get download victoria-metrics promtool prometheus-alertmanager docker-cli docker-compose from '$suite' failed"; }

for deb in "$work"/debs/*.deb; do
    dpkg -x "$deb" "$work/root"
done

mkdir -p "$bin"
install -m 0755 "$work/root/usr/bin/victoria-metrics" "$bin/victoria-metrics"
install -m 0755 "$work/root/usr/bin/promtool" "$bin/promtool"
install -m 0755 "$work/root/usr/bin/amtool" "$bin/amtool"
install -m 0755 "$work/root/usr/bin/docker" "$bin/docker"
mkdir -p "$plugins"
install -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$plugins/docker-compose"

runs "$bin/victoria-metrics" || fail "$bin/victoria-metrics does not run"
runs "$bin/promtool" || fail "$bin/promtool does not run"
runs "$bin/amtool" || fail "$bin/amtool does not run"
runs "$bin/docker" || fail "$bin/docker does not run"
DOCKER_CONFIG="$tools/docker" "$bin/docker" compose version >/dev/null 2>&1 || fail "$plugins/docker-compose does not run"
