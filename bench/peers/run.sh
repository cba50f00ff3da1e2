#!/usr/bin/env bash
# run.sh: the edge beside nginx (proxy_cache) and Varnish, each in front of the same
# origin, and a bare fasthttp handler serving the same bytes as the ceiling. wrk at
# $CONNS connections for $DURATION against each, for a 2 KB catalog response and a 1 MB
# segment. Writes a table to bench/peers/results.md. Loopback only; stops by itself.
#
#   bench/peers/run.sh            (CONNS=256 DURATION=20s by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONNS="${CONNS:-256}"
DURATION="${DURATION:-20s}"
THREADS="${THREADS:-2}"
DIR="$(mktemp -d /tmp/luffy-peers.XXXXXX)"
chmod 755 "$DIR"
OUT="$ROOT/bench/peers/results.md"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] || need+=(varnish)
if [ ${#need[@]} -gt 0 ]; then
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
	as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
	as_root rm -f /usr/sbin/policy-rc.d
fi

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
	pkill -f "varnishd.*$DIR" 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

cd "$ROOT"
go build -o "$DIR/peer-origin" ./bench/peers/origin
go build -o "$DIR/luffy" ./cmd/luffy
ulimit -n 20000 2>/dev/null || true

"$DIR/peer-origin" --listen 127.0.0.1:9101 2>"$DIR/origin.log" & pids+=($!)
"$DIR/peer-origin" --listen 127.0.0.1:9102 2>"$DIR/bare.log" & pids+=($!)
# any valid key: this comparison plays no video
"$DIR/luffy" edge --listen 127.0.0.1:9103 --origin http://127.0.0.1:9101 --log-level warn \
	--token-public-key 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= 2>"$DIR/edge.log" & pids+=($!)
sed "s|@DIR@|$DIR|g" bench/peers/nginx.conf >"$DIR/nginx.conf"
mkdir -p "$DIR/nginx-cache"
nginx -c "$DIR/nginx.conf"
cp bench/peers/varnish.vcl "$DIR/varnish.vcl"
chmod 644 "$DIR/varnish.vcl"
varnishd=$(command -v varnishd || echo /usr/sbin/varnishd)
"$varnishd" -a 127.0.0.1:9105 -f "$DIR/varnish.vcl" -s malloc,1G -n "$DIR/varnish" -p thread_pool_max=2000 >/dev/null

for port in 9101 9102 9103 9104 9105; do
	for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/api/v1/courses" && break; sleep 0.1; done
done

declare -A NAME=([9102]="bare fasthttp (ceiling)" [9103]="luffy edge" [9104]="nginx proxy_cache" [9105]="varnish")
{
	echo "# Edge beside nginx and Varnish"
	echo
	echo "\`bench/peers/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION over loopback;"
	echo "every server in front of the same origin (bench/peers/origin), caches warmed first."
	echo
	echo "| response | server | requests/s | transfer/s | p50 | p99 | non-2xx |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
} >"$OUT"
for path in /api/v1/courses /segment.ts; do
	for port in 9102 9103 9104 9105; do
		url="http://127.0.0.1:$port$path"
		curl -sf -o /dev/null "$url"; curl -sf -o /dev/null "$url"
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url" >"$DIR/wrk.txt" 2>&1 || true
		rps=$(awk '/^Requests\/sec/ {print $2}' "$DIR/wrk.txt")
		tps=$(awk '/^Transfer\/sec/ {print $2}' "$DIR/wrk.txt")
		p50=$(awk '$1 == "50%" {print $2}' "$DIR/wrk.txt")
		p99=$(awk '$1 == "99%" {print $2}' "$DIR/wrk.txt")
		non2xx=$(awk '/Non-2xx/ {print $5}' "$DIR/wrk.txt")
		size=$([ "$path" = /segment.ts ] && echo "1 MB segment" || echo "2 KB catalog")
		echo "| $size | ${NAME[$port]} | $rps | $tps | $p50 | $p99 | ${non2xx:-0} |" | tee -a "$OUT"
	done
done
echo "results in $OUT"
