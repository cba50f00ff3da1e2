#!/usr/bin/env bash
# Entry point of the streaming replica. On the first start (an empty data directory) it
# clones the primary with pg_basebackup through the replication slot, configures it as a
# hot standby, and then hands over to the official image's entry point, which finds an
# initialized data directory and just runs postgres. Later starts go straight to postgres.
#
# To rebuild the replica from scratch: docker compose rm -sf pg-replica &&
# docker volume rm luffy_pg-replica && docker compose up -d pg-replica
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:?set PRIMARY_HOST}" "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
PRIMARY_PORT="${PRIMARY_PORT:-5432}"
SLOT="${REPLICATION_SLOT:-replica1}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 0700 "$PGDATA"
	until gosu postgres pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
		echo "replica: waiting for the primary at $PRIMARY_HOST:$PRIMARY_PORT" >&2
		sleep 1
	done
	echo "replica: cloning the primary (pg_basebackup, slot $SLOT)" >&2
	if ! PGPASSWORD="$REPLICATION_PASSWORD" gosu postgres pg_basebackup \
		-h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U replicator \
		-D "$PGDATA" -X stream -S "$SLOT" --checkpoint=fast; then
		# a half-copied directory must not pass for a replica on the next start
		find "$PGDATA" -mindepth 1 -delete
		exit 1
	fi
	# The password goes into postgresql.auto.conf, readable by the postgres user only;
	# it must not contain a single quote.
	cat >>"$PGDATA/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=$PRIMARY_HOST port=$PRIMARY_PORT user=replicator password=$REPLICATION_PASSWORD application_name=$SLOT'
primary_slot_name = '$SLOT'
CONF
	touch "$PGDATA/standby.signal"
	chown -R postgres:postgres "$PGDATA"
fi

exec docker-entrypoint.sh "$@"
