#!/usr/bin/env bash
# Postgres on 127.0.0.1:5432 with trust auth for local connections: the store, task and API suites
# run against it (each test file creates and drops a database of its own).
# apt: postgresql postgresql-client
#
# Starts the first cluster Debian's postgresql-common knows of when nothing answers on the port.
# Installs nothing: scripts/test-setup.sh installs the packages named above.
set -euo pipefail

ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
# The suites connect as postgres@127.0.0.1 without a password.
usable() {
  psql -h 127.0.0.1 -p 5432 -U postgres -w -d postgres -Atqc 'select 1' >/dev/null 2>&1 && return 0
  echo "postgres: 127.0.0.1:5432 answers but refuses postgres without a password; add" >&2
  echo "  'host all all 127.0.0.1/32 trust' to the top of /etc/postgresql/*/main/pg_hba.conf and reload" >&2
  return 1
}

command -v pg_isready >/dev/null || { echo "postgres: pg_isready not found; install postgresql-client (scripts/test-setup.sh does)" >&2; exit 1; }
if ready; then usable; exit; fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
if [ -z "$version" ]; then
  echo "postgres: no cluster under /etc/postgresql; install postgresql (scripts/test-setup.sh does)" >&2
  exit 1
fi
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  echo "postgres: Postgres $version has no 'main' cluster; create one with: pg_createcluster $version main" >&2
  exit 1
fi
echo "postgres: starting cluster $version/main" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do
  if ready; then usable; exit; fi
  sleep 1
done
echo "postgres: cluster $version/main started but 127.0.0.1:5432 does not answer; see /var/log/postgresql/" >&2
exit 1
