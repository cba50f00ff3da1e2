#!/usr/bin/env bash
# Runs once, when the primary's data directory is first initialized (the official image
# runs /docker-entrypoint-initdb.d/*.sh then, against a server on a local socket): a role
# for replication, a physical slot so the primary keeps the WAL the replica has not
# received yet (bounded by max_slot_wal_keep_size in docker-compose.yml), and a pg_hba
# line that lets the role connect for replication, which "host all all all" does not.
set -euo pipefail
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	--set=pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SELECT pg_create_physical_replication_slot('replica1', true);
SQL

echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
