#!/bin/sh
# The fleet end to end, on this machine (docs/FLEET.md; the small version is the cargo
# test tools/tests/fleet_e2e.rs): a redis-server, two secure game servers publishing
# themselves (`tickwire serve --redis`, --max-clients 255 each), two matchmakers, and
# tickwire-fleet-players (each player logs in, asks for a match, long-polls, connects with
# its connect token and plays). Release build. Everything runs on 127.0.0.1 and is stopped
# on exit.
#
#   1. throughput: N players through one matchmaker, then N through both: assignments/s
#      and the time from "ask for a match" to ACCEPT (p50/p99);
#   2. N players play while Redis is stopped for OUTAGE seconds: every one plays on;
#   3. server 1 is killed (SIGKILL): its record expires, and 50 new players all go to
#      server 2.
# Checks: no seat handed out twice, no server above its capacity, every player played.
#
# Usage: tools/fleet-e2e.sh            (N=400 OUTAGE=10 by default)
#        N=100 OUTAGE=3 tools/fleet-e2e.sh
# Needs redis-server and redis-cli (tools/install-test-deps.sh) and python3 (to read JSON).
set -eu
N="${N:-400}"
OUTAGE="${OUTAGE:-10}"
CAP=255
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
cargo build --release --locked -q -p tickwire-tools --bin tickwire --bin tickwire-matchmaker --bin tickwire-fleet-players
BIN="$ROOT/target/release"
WORK="$(mktemp -d)"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# Waits (at most 30 s) until file $1 has a first line; prints it.
first_line() {
    i=0
    while [ ! -s "$1" ]; do
        i=$((i + 1)); [ "$i" -le 300 ] || { echo "fleet-e2e: nothing on $1" >&2; exit 1; }
        sleep 0.1
    done
    head -n 1 "$1"
}
field() { python3 -c "import json,sys; print(json.load(open('$1'))$2)"; }

RPORT="$(free_port)"
REDIS="redis://127.0.0.1:$RPORT"
start_redis() {
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    REDIS_PID=$!
    PIDS="$PIDS $REDIS_PID"
    i=0
    until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -le 300 ] || { echo "fleet-e2e: redis-server did not start" >&2; exit 1; }
        sleep 0.1
    done
}
start_redis
"$BIN/tickwire" token keygen "$WORK/fleet.key" >/dev/null

for id in 1 2; do
    "$BIN/tickwire" serve --bind 127.0.0.1:0 --lobby off --stats-interval-ms 0 \
        --secure --token-key "$WORK/fleet.key" --server-id "$id" --redis "$REDIS" \
        --max-clients "$CAP" --max-clients-per-ip 255 --challenges-per-ip 100000 \
        >"$WORK/server$id.out" 2>"$WORK/server$id.err" &
    eval "SERVER${id}_PID=$!"
    PIDS="$PIDS $!"
    echo "server $id: $(first_line "$WORK/server$id.out")"
done
MM=""
for k in 1 2; do
    "$BIN/tickwire-matchmaker" --bind 127.0.0.1:0 --redis "$REDIS" --token-key "$WORK/fleet.key" \
        --insecure-http --queue-seconds 20 >"$WORK/mm$k.out" 2>"$WORK/mm$k.err" &
    PIDS="$PIDS $!"
    line="$(first_line "$WORK/mm$k.out")"
    MM="$MM ${line##*http=}"
    echo "matchmaker $k: $line"
done
set -- $MM
MM1="http://$1"
MM2="http://$2"

i=0
until [ "$(redis-cli -p "$RPORT" scard tw:servers)" = 2 ]; do
    i=$((i + 1)); [ "$i" -le 300 ] || { echo "fleet-e2e: servers not registered" >&2; exit 1; }
    sleep 0.1
done

FAIL=0
check() { # summary-file label
    dup="$(field "$1" "['duplicate_seats']")"
    played="$(field "$1" "['played']")"
    over="$(python3 -c "import json; print(max(json.load(open('$1'))['per_server'].values(), default=0))")"
    echo "$2: $(field "$1" "['assigned']") assigned, $played played, per server $(field "$1" "['per_server']"), \
$(field "$1" "['assignments_per_sec']" | cut -c1-7) assignments/s, ask->ACCEPT p50 $(field "$1" "['ask_to_accept_p50_ms']" | cut -c1-6) ms \
p99 $(field "$1" "['ask_to_accept_p99_ms']" | cut -c1-6) ms, seats twice: $dup"
    [ "$dup" = 0 ] || { echo "FAIL: a seat was handed out twice"; FAIL=1; }
    [ "$over" -le "$CAP" ] || { echo "FAIL: a server above capacity"; FAIL=1; }
}
players() { # out-file label args...
    out="$1"; shift; label="$1"; shift
    "$BIN/tickwire-fleet-players" "$@" >"$out" || { echo "FAIL: $label: not every player played"; FAIL=1; }
    check "$out" "$label"
}

# 1. Throughput, one matchmaker then two.
players "$WORK/one.json" "one matchmaker, $N players" --matchmaker "$MM1" --players "$N" \
    --rate 5000 --play-seconds 1 --prefix a
sleep 1
players "$WORK/two.json" "two matchmakers, $N players" --matchmaker "$MM1" --matchmaker "$MM2" \
    --players "$N" --rate 5000 --play-seconds 1 --prefix b
sleep 1

# 2. Redis stops for OUTAGE seconds while N players play.
PLAY=$((OUTAGE + 15))
"$BIN/tickwire-fleet-players" --matchmaker "$MM1" --matchmaker "$MM2" --players "$N" \
    --rate 2000 --play-seconds "$PLAY" --prefix c >"$WORK/outage.json" &
PLAYERS_PID=$!
i=0
until [ "$(( $(redis-cli -p "$RPORT" hget tw:server:1 players:0 || echo 0) + $(redis-cli -p "$RPORT" hget tw:server:2 players:0 || echo 0) ))" -ge "$N" ]; do
    i=$((i + 1)); [ "$i" -le 600 ] || { echo "FAIL: the players were not all seated"; FAIL=1; break; }
    sleep 0.1
done
echo "seated: server 1 $(redis-cli -p "$RPORT" hget tw:server:1 players:0), server 2 $(redis-cli -p "$RPORT" hget tw:server:2 players:0); stopping Redis for $OUTAGE s"
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
sleep "$OUTAGE"
start_redis
if wait "$PLAYERS_PID"; then :; else echo "FAIL: players did not all play through the outage"; FAIL=1; fi
check "$WORK/outage.json" "$N players through a $OUTAGE s Redis outage"

# 3. Kill server 1: its record expires, new players go to server 2.
kill -9 "$SERVER1_PID"
i=0
until [ "$(redis-cli -p "$RPORT" exists tw:server:1)" = 0 ]; do
    i=$((i + 1)); [ "$i" -le 300 ] || { echo "FAIL: server 1's record did not expire"; FAIL=1; break; }
    sleep 0.1
done
echo "server 1 killed; its record expired after at most $((i / 10)) s"
players "$WORK/after.json" "50 players after server 1 died" --matchmaker "$MM1" --matchmaker "$MM2" \
    --players 50 --play-seconds 1 --prefix d
if [ "$(field "$WORK/after.json" "['per_server'].get('1', 0)")" != 0 ]; then
    echo "FAIL: a player was sent to the dead server"; FAIL=1
fi
if [ "$FAIL" = 0 ]; then echo "fleet-e2e: PASS"; else echo "fleet-e2e: FAIL"; fi
exit "$FAIL"
