#!/usr/bin/env bash
# stack.sh brings up the local stack Luffy runs and tests against: a project-local
# PostgreSQL cluster on 127.0.0.1:55432 with a streaming replica of it on 127.0.0.1:55433
# (catalog reads split from writes, as a scaled-out site runs them), a MinIO server on 127.0.0.1:9000 and a Docker
# engine, with their data under .data/. It installs what is missing (PostgreSQL, Docker and
# ffmpeg, Node.js, npm and Chromium from the operating system's configured apt sources; the MinIO server with
# `go install` at a pinned version), is idempotent (what is up is reused) and repairs a
# stack that a crash left half-started (stale pid files, an interrupted initdb).
#
#   deploy/stack.sh [up|down|status]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${LUFFY_DATA:-$ROOT/.data}"
PG_PORT="${LUFFY_PG_PORT:-55432}"
REPLICA_PORT="${LUFFY_PG_REPLICA_PORT:-55433}"
PG_USER=luffy
PG_DB=luffy
MINIO_ADDR="${LUFFY_MINIO_ADDR:-127.0.0.1:9000}"
MINIO_CONSOLE_ADDR="${LUFFY_MINIO_CONSOLE_ADDR:-127.0.0.1:9001}"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
export MINIO_ROOT_USER="${LUFFY_MINIO_ACCESS_KEY:-luffy}"
export MINIO_ROOT_PASSWORD="${LUFFY_MINIO_SECRET_KEY:-luffy-dev-secret}"
DOCKER_SOCK="${LUFFY_DOCKER_SOCK:-/var/run/docker.sock}"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root to run: $*"
	fi
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
	local what=$1 secs=$2; shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			die "$what did not become ready within ${secs}s (logs in $DATA/log/)"
		fi
		sleep 0.3
	done
}

apt_updated=0
apt_install() {
	if [ $apt_updated -eq 0 ]; then
		log "apt-get update"
		# A source this machine cannot reach must not stop the ones it can.
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$DATA/log/apt.log" 2>&1 || true
		apt_updated=1
	fi
	log "installing $*"
	# policy-rc.d keeps the packages from starting their own system services:
	# this stack runs its own, on its own ports.
	as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$DATA/log/apt.log" 2>&1 \
		|| { tail -20 "$DATA/log/apt.log" >&2; die "apt-get install $* failed"; }
	as_root rm -f /usr/sbin/policy-rc.d
}

pg_bindir() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	command -v initdb >/dev/null && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
	return 1
}

install_missing() {
	local pkgs=()
	pg_bindir >/dev/null || pkgs+=(postgresql)
	command -v psql >/dev/null || pkgs+=(postgresql-client)
	command -v dockerd >/dev/null || pkgs+=(docker.io)
	command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v debootstrap >/dev/null || pkgs+=(debootstrap)
	# the web front: npm fetches hls.js and playwright-core; its browser tests drive
	# Debian's Chromium (never a browser a test tool downloads)
	command -v node >/dev/null || pkgs+=(nodejs)
	command -v npm >/dev/null || pkgs+=(npm)
	command -v chromium >/dev/null || pkgs+=(chromium)
	# the catalog is Chinese: without CJK fonts the browser tests' screenshots show boxes
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || pkgs+=(fonts-noto-cjk)
	if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
	if ! id postgres >/dev/null 2>&1; then
		log "creating the postgres system user (initdb refuses to run as root)"
		as_root useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
	fi
	if [ ! -x "$DATA/bin/minio" ]; then
		log "building the MinIO server $MINIO_VERSION with go install (takes a few minutes)"
		GOBIN="$DATA/bin" go install "github.com/minio/minio@$MINIO_VERSION" >"$DATA/log/minio-build.log" 2>&1 \
			|| { tail -20 "$DATA/log/minio-build.log" >&2; die "go install minio failed"; }
	fi
}

pg_run() { # runs a command as the postgres OS user
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB"; }

start_postgres() {
	PGBIN="$(pg_bindir)"
	local pgdata="$DATA/pg" rundir="$DATA/pg-run"
	mkdir -p "$rundir"
	touch "$DATA/log/postgres.log" "$DATA/log/initdb.log"
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$rundir" "$DATA/log/postgres.log"; fi
	if pg_ready; then log "postgres is up on 127.0.0.1:$PG_PORT"; return; fi

	# .initialized is written only after initdb and the first setup finished; without it a
	# crash happened half-way and the directory is rebuilt.
	if [ ! -f "$pgdata/.initialized" ]; then
		log "initializing a PostgreSQL cluster in $pgdata"
		rm -rf "$pgdata"
		mkdir -p "$pgdata"
		if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pgdata"; fi
		chmod 700 "$pgdata"
		pg_run "$PGBIN/initdb" -D "$pgdata" -U "$PG_USER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DATA/log/initdb.log" 2>&1 \
			|| { tail -20 "$DATA/log/initdb.log" >&2; die "initdb failed"; }
		cat >>"$pgdata/postgresql.conf" <<CONF
# luffy local stack
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$rundir'
max_connections = 300
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
synchronous_commit = on
fsync = on
log_min_duration_statement = 1000
max_wal_size = 4GB
checkpoint_timeout = 15min
CONF
		local fresh=1
	fi

	# A pid file without its process is what a crash leaves; postgres would refuse to start.
	if [ -f "$pgdata/postmaster.pid" ]; then
		local pid; pid="$(head -1 "$pgdata/postmaster.pid")"
		if ! kill -0 "$pid" 2>/dev/null; then
			log "removing stale postmaster.pid (pid $pid is gone)"
			rm -f "$pgdata/postmaster.pid"
		fi
	fi
	if ! pg_run "$PGBIN/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
		log "starting postgres on 127.0.0.1:$PG_PORT"
		pg_run "$PGBIN/pg_ctl" -D "$pgdata" -l "$DATA/log/postgres.log" -w -t 60 start >/dev/null 9>&- \
			|| { tail -20 "$DATA/log/postgres.log" >&2; die "postgres did not start"; }
	fi
	wait_for postgres 60 "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres
	if [ "${fresh:-0}" = 1 ] || ! pg_ready; then
		"$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
			"SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1 \
			|| "$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -c "CREATE DATABASE $PG_DB"
		touch "$pgdata/.initialized"
	fi
	wait_for postgres 30 pg_ready
	log "postgres is up on 127.0.0.1:$PG_PORT"
}

replica_ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$REPLICA_PORT" -U "$PG_USER" -d "$PG_DB"; }

# replica_streaming says whether the replica receives the primary's WAL: a replica that
# was down while the primary recycled the WAL it needs starts, but never catches up.
replica_streaming() {
	"$PGBIN/psql" -q -h 127.0.0.1 -p "$REPLICA_PORT" -U "$PG_USER" -d postgres -tAc \
		"SELECT status FROM pg_stat_wal_receiver" 2>/dev/null | grep -q streaming
}

# start_replica runs a hot standby of the local cluster, made with pg_basebackup and fed
# by streaming replication; one that cannot catch up is made anew.
start_replica() {
	local rdata="$DATA/pg-replica" attempt
	touch "$DATA/log/postgres-replica.log"
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DATA/log/postgres-replica.log"; fi
	for attempt in 1 2; do
		if [ ! -f "$rdata/.replica-initialized" ]; then
			log "making a streaming replica in $rdata (pg_basebackup)"
			rm -rf "$rdata"
			mkdir -p "$rdata"
			if [ "$(id -u)" -eq 0 ]; then chown postgres: "$rdata"; fi
			chmod 700 "$rdata"
			pg_run "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -D "$rdata" -R -X stream -c fast \
				>"$DATA/log/basebackup.log" 2>&1 || { tail -20 "$DATA/log/basebackup.log" >&2; die "pg_basebackup failed"; }
			rm -f "$rdata/.initialized"
			# postgresql.auto.conf is read last, so these override the primary's settings
			# that came with the copy.
			printf "port = %s\nhot_standby_feedback = on\n" "$REPLICA_PORT" | pg_run tee -a "$rdata/postgresql.auto.conf" >/dev/null
			pg_run touch "$rdata/.replica-initialized"
		fi
		if [ -f "$rdata/postmaster.pid" ] && ! kill -0 "$(head -1 "$rdata/postmaster.pid")" 2>/dev/null; then
			rm -f "$rdata/postmaster.pid"
		fi
		if ! pg_run "$PGBIN/pg_ctl" -D "$rdata" status >/dev/null 2>&1; then
			log "starting the postgres replica on 127.0.0.1:$REPLICA_PORT"
			pg_run "$PGBIN/pg_ctl" -D "$rdata" -l "$DATA/log/postgres-replica.log" -w -t 60 start >/dev/null 9>&- || true
		fi
		local deadline=$((SECONDS + 20))
		until replica_ready && replica_streaming; do
			[ $SECONDS -lt $deadline ] || break
			sleep 0.3
		done
		if replica_ready && replica_streaming; then
			log "postgres replica is up on 127.0.0.1:$REPLICA_PORT"
			return
		fi
		log "the replica does not stream from the primary; making it anew"
		pg_run "$PGBIN/pg_ctl" -D "$rdata" -m immediate -w stop >/dev/null 2>&1 || true
		rm -f "$rdata/.replica-initialized"
	done
	tail -20 "$DATA/log/postgres-replica.log" >&2
	die "the postgres replica did not start streaming"
}

minio_ready() { curl -sf -o /dev/null "http://$MINIO_ADDR/minio/health/live"; }

start_minio() {
	if minio_ready; then log "minio is up on $MINIO_ADDR"; return; fi
	local pidfile="$DATA/run/minio.pid"
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		log "minio (pid $(cat "$pidfile")) runs but does not answer; restarting it"
		kill "$(cat "$pidfile")" 2>/dev/null || true
		sleep 1
	fi
	mkdir -p "$DATA/minio"
	log "starting minio on $MINIO_ADDR"
	# 9>&-: the daemon must not inherit the stack lock, or it would hold it forever.
	MINIO_BROWSER=off setsid "$DATA/bin/minio" server --quiet --address "$MINIO_ADDR" \
		--console-address "$MINIO_CONSOLE_ADDR" "$DATA/minio" >"$DATA/log/minio.log" 2>&1 </dev/null 9>&- &
	echo $! >"$pidfile"
	wait_for minio 60 minio_ready
	log "minio is up on $MINIO_ADDR"
}

docker_ready() { docker -H "unix://$DOCKER_SOCK" version --format '{{.Server.Version}}'; }

start_docker() {
	if docker_ready >/dev/null 2>&1; then log "docker engine is up on $DOCKER_SOCK"; return; fi
	local pidfile="$DATA/run/dockerd.pid"
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		log "dockerd (pid $(cat "$pidfile")) runs but does not answer; restarting it"
		as_root kill "$(cat "$pidfile")" 2>/dev/null || true
		sleep 2
	fi
	# What a killed dockerd leaves behind stops the next one from starting.
	# containerd.pid too: its pid may belong to another process by now, and dockerd would
	# wait for that "containerd" forever instead of starting its own.
	as_root rm -f "$pidfile" /var/run/docker.pid "$DOCKER_SOCK" /var/run/docker/containerd/containerd.pid
	mkdir -p "$DATA/docker"
	log "starting dockerd (data in $DATA/docker)"
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" setsid dockerd --data-root "$DATA/docker" --pidfile "$pidfile" \
		--host "unix://$DOCKER_SOCK" >"$DATA/log/dockerd.log" 2>&1 </dev/null 9>&- &
	wait_for dockerd 90 docker_ready
	log "docker engine is up on $DOCKER_SOCK"
}

down() {
	PGBIN="$(pg_bindir || true)"
	if [ -n "$PGBIN" ] && [ -f "$DATA/pg-replica/postmaster.pid" ]; then
		pg_run "$PGBIN/pg_ctl" -D "$DATA/pg-replica" -m fast -w stop >/dev/null || true
	fi
	if [ -n "$PGBIN" ] && [ -f "$DATA/pg/postmaster.pid" ]; then
		pg_run "$PGBIN/pg_ctl" -D "$DATA/pg" -m fast -w stop >/dev/null || true
	fi
	local f
	for f in minio dockerd; do
		if [ -f "$DATA/run/$f.pid" ]; then
			as_root kill "$(cat "$DATA/run/$f.pid")" 2>/dev/null || true
			rm -f "$DATA/run/$f.pid"
		fi
	done
	log "stack stopped"
}

status() {
	PGBIN="$(pg_bindir)"
	pg_ready && echo "postgres: up (postgres://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB)" || echo "postgres: down"
	replica_ready && echo "replica:  up (postgres://$PG_USER@127.0.0.1:$REPLICA_PORT/$PG_DB, streaming: $(replica_streaming && echo yes || echo no))" || echo "replica:  down"
	minio_ready && echo "minio:    up (http://$MINIO_ADDR)" || echo "minio:    down"
	docker_ready >/dev/null 2>&1 && echo "docker:   up (unix://$DOCKER_SOCK, engine $(docker_ready))" || echo "docker:   down"
}

mkdir -p "$DATA/log" "$DATA/run" "$DATA/bin"
chmod 755 "$DATA"
# One stack operation at a time: two `make test` runs must not both initdb.
exec 9>"$DATA/stack.lock"
flock 9

case "${1:-up}" in
up)
	install_missing
	start_postgres
	start_replica
	start_minio
	start_docker
	;;
down) down ;;
status) status ;;
*) die "usage: $0 [up|down|status]" ;;
esac
