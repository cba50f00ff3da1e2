#!/usr/bin/env bash
# The capacity test (`make bench`): the platform promises 20-30k concurrent users on one
# machine. An origin and an edge of 3 worker processes (one process may hold at most
# ~20,000 files here) run from bin/luffy on their own ports; `luffy bench mixed` ramps to
# each connection count of STEPS, holds the connections, and runs catalog readers (one
# request per 10 s each) and video viewers (one segment per 4 s each, real-time pace)
# mixed 70/30 at the fixed rate that makes, for DURATION. A step holds when the corrected
# p99 stays under 100 ms with under 0.1% errors and the generator kept its schedule. The
# verdict is on the last step (30,000); results and HTML reports go to OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/luffy
ORIGIN=${ORIGIN:-127.0.0.1:18080}
EDGE=${EDGE:-127.0.0.1:18081}
STEPS=${STEPS:-"10000 20000 30000"}
DURATION=${DURATION:-30s}
OUT=${OUT:-bench/results}
PG_URL=${LUFFY_PG_URL:-postgres://luffy@127.0.0.1:55432/luffy?sslmode=disable}
mkdir -p "$OUT" .data/log

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

$BIN migrate >/dev/null
$BIN seed >/dev/null 2>&1
LESSON=$(psql "$PG_URL" -Atc "SELECT id FROM lessons WHERE free_preview AND video_id IS NOT NULL AND deleted_at IS NULL ORDER BY id LIMIT 1")
COURSES=$(psql "$PG_URL" -Atc "SELECT max(id) FROM courses")

$BIN origin --listen "$ORIGIN" --log-level warn >.data/log/bench-origin.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$ORIGIN/readyz" >/dev/null && break; sleep 0.2; done
$BIN edge --workers 3 --listen "$EDGE" --origin "http://$ORIGIN" --purge-secret "bench-$RANDOM" --log-level warn >.data/log/bench-edge.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$EDGE/healthz" >/dev/null && break; sleep 0.2; done

printf '%-12s %-10s %-10s %-10s %-8s %s\n' connections rate p99_ms errors valid verdict | tee "$OUT/capacity.txt"
held=0
verdict=FAIL
for n in $STEPS; do
	rate=$(( n * 7 / 100 + n * 3 / 40 ))   # 70% read a page per 10 s, 30% a segment per 4 s
	if $BIN bench mixed --target "http://$EDGE" --connections "$n" --rate "$rate" --duration "$DURATION" \
		--lesson "$LESSON" --courses "$COURSES" --mix catalog=70,video=30 --dial-rate 3000 \
		--json "$OUT/capacity-$n.json" --html "$OUT/capacity-$n.html" \
		--max-p99 100ms --max-error-rate 0.001 >"$OUT/capacity-$n.txt" 2>/dev/null; then
		v=HELD; held=$n
	else
		v=FAILED
	fi
	python3 - "$OUT/capacity-$n.json" "$n" "$rate" "$v" <<'PY' | tee -a "$OUT/capacity.txt"
import json, sys
r = json.load(open(sys.argv[1]))
errs = sum(r["errors"].values())
print(f'{sys.argv[2]:<12} {sys.argv[3]:<10} {r["corrected"]["p99_ms"]:<10.1f} {errs:<10} {str(r["valid"]):<8} {sys.argv[4]}')
PY
	[ "$v" = HELD ] && verdict=HELD || verdict=FAILED
done
echo "largest connection count that held p99 < 100 ms: $held" | tee -a "$OUT/capacity.txt"
echo "verdict at $(echo $STEPS | awk '{print $NF}') connections: $verdict" | tee -a "$OUT/capacity.txt"
[ "$verdict" = HELD ]
