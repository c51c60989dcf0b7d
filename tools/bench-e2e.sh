#!/usr/bin/env bash
# End-to-end benchmark on 127.0.0.1: the tickwire server against bare-syscall references
# measured in the same run, printed as one table.
#
#   tools/bench-e2e.sh [--quick] [--secure] [--rate R] [--clients "500 1000 2000"] [--seconds S] [--per-match P]
#                      [--serve-args "FLAGS"]
#
# --serve-args adds FLAGS to every `tickwire serve` of the run (e.g. "--tick-spin-us 0",
# "--tick-phase staggered", "--threads 2"): to compare settings, run once per setting.
#
# (a) receive path: server datagrams per CPU-second under a sendmmsg flood of handshaken
#     INPUTs, vs a bare recvmmsg drain of the same flood (tickwire-rawref drain/flood);
#     every flood at one rate, --rate R datagrams/s (default 300000: below what the
#     flooder reaches here), since a receiver's CPU per datagram depends on the input rate;
# (b) broadcast: server CPU per client per tick while serving bots, vs a bare sendmmsg
#     broadcast of the same datagram size and count (tickwire-rawref bcast);
# (c) clients served at 60 Hz over several matches with snapshot delivery >= 99.9%
#     (tickwire-bots);
# (d) tick start lateness p50/p99/p99.9/max from the server's final stats line in that run;
# (e) the ratios.
# With --secure, (a), (b) and (c) run a second time in the same run against
# `serve --secure` (PROTOCOL.md section 8): a sealed-INPUT flood from token clients, and
# bots connecting with tokens minted from a fresh fleet key; the table gets secure rows.
#
# With 2+ cores the server (and the references standing in for it) run on cpu 0 and the
# load (flooder, bots, broadcast drain) on cpu 1, pinned with taskset. Everything started
# here is stopped by a trap; every process also runs under `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
SECURE=0
RATE=""
CLIENTS=""
PER_MATCH=125
LOAD_S=""
SERVE_ARGS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --secure) SECURE=1 ;;
    --rate) RATE="$2"; shift ;;
    --clients) CLIENTS="$2"; shift ;;
    --seconds) LOAD_S="$2"; shift ;;
    --per-match) PER_MATCH="$2"; shift ;;
    --serve-args) SERVE_ARGS="$2"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench-e2e: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
: "${RATE:=300000}"
if [ "$QUICK" = 1 ]; then
  FLOOD_S=1; BCAST_S=1; : "${LOAD_S:=3}"; : "${CLIENTS:=300}"
else
  FLOOD_S=5; BCAST_S=5; : "${LOAD_S:=15}"; : "${CLIENTS:=500 1000 1500 2000}"
fi

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
echo "building release binaries..." >&2
cargo build --release --bins --quiet
BIN="$TARGET_DIR/release"
SERVER="$BIN/tickwire"
BOTS="$BIN/tickwire-bots"
RAWREF="$BIN/tickwire-rawref"

CORES=$(nproc)
if [ "$CORES" -ge 2 ] && command -v taskset >/dev/null; then
  SRV=(taskset -c 0); LOAD=(taskset -c 1); SCPU=0; LCPU=1
  ARRANGEMENT="server/reference on cpu 0, load generator on cpu 1 (taskset), $CORES cores"
else
  SRV=(); LOAD=(); SCPU=""; LCPU=""
  ARRANGEMENT="not pinned: $CORES core(s), server and load share the machine"
fi
CLK_TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/tickwire-bench.XXXXXX)
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  sleep 0.3
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU seconds (user + sys) of a running process, from /proc/PID/stat.
cpu_of() {
  awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"
}
# The process doing the work under `timeout` (its child), for its CPU time.
worker() { local c; c=$(pgrep -P "$1" | head -1 || true); echo "${c:-$1}"; }
# Waits (bounded) until FILE has a line matching PATTERN.
wait_for_line() {
  local i
  for i in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-e2e: timed out waiting for '$2' in $1" >&2
  return 1
}
# Stops PID with SIGTERM and waits for it (bounded).
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  wait "$1" 2>/dev/null || true
}
# key=value from a line of text.
kv() { grep -o "$2=[^ ]*" <<<"$1" | head -1 | cut -d= -f2; }
# A top-level number from the bots' JSON; jobj picks a nested object first.
jnum() { grep -o "\"$2\":[-0-9.eE+]*" <<<"$1" | head -1 | cut -d: -f2; }
jobj() { grep -o "\"$2\":{[^}]*}" <<<"$1" | head -1; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
port() { echo $(( 20000 + (RANDOM % 20000) )); }

# (a1) bare recvmmsg drain of the flood ---------------------------------------------
P=$(port)
timeout $((FLOOD_S + 20)) "${SRV[@]}" "$RAWREF" drain --bind "127.0.0.1:$P" --seconds $((FLOOD_S + 10)) >"$TMP/drain.out" &
PIDS+=($!); DRAIN=$!
wait_for_line "$TMP/drain.out" "rawref listening"
timeout $((FLOOD_S + 20)) "${LOAD[@]}" "$RAWREF" flood --target "127.0.0.1:$P" --seconds "$FLOOD_S" --rate "$RATE" >"$TMP/flood1.out"
sleep 0.2
stop_pid "$DRAIN"
DRAIN_LINE=$(grep "rawref drain" "$TMP/drain.out" || true)
RAW_RX=$(kv "$DRAIN_LINE" per_cpu_s)
RAW_RX_WALL=$(kv "$DRAIN_LINE" per_s)

# (a2) the server under the same flood (handshaken INPUTs, advancing seqs) ---------------
# run_a2 EXTRA_SERVER_FLAGS EXTRA_FLOOD_FLAGS: sets SRV_RX, SA_IN, SA_DROPS, FLOOD2_LINE.
run_a2() {
  local P C0 C1 SRVA
  P=$(port)
  # The flooder's INPUTs never ack anything (it does not read): a long timeout keeps it
  # from being dropped as not reading (PROTOCOL.md section 3) while the receive path is measured.
  timeout $((FLOOD_S + 30)) "${SRV[@]}" "$SERVER" serve --bind "127.0.0.1:$P" --lobby off --max-clients-per-ip 255 --challenges-per-ip 100000 --timeout-ms 600000 --stats-interval-ms 0 $SERVE_ARGS $1 >"$TMP/srv-a.out" 2>"$TMP/srv-a.err" &
  PIDS+=($!); SRVA=$!
  wait_for_line "$TMP/srv-a.out" "tickwire listening"
  C0=$(cpu_of "$(worker "$SRVA")")
  # 32 clients: a burst of kernel drops (a full receive buffer) must cost one client
  # 1024 datagrams in a row before its seqs run far ahead of the window (PROTOCOL.md
  # section 3) and everything it sends after is dropped unread, which would flatter the
  # receive rate; a drops[far_ahead=...] in the details means that happened anyway.
  timeout $((FLOOD_S + 20)) "${LOAD[@]}" "$RAWREF" flood --connect --sockets 32 --target "127.0.0.1:$P" --seconds "$FLOOD_S" --rate "$RATE" $2 >"$TMP/flood2.out"
  sleep 0.2
  C1=$(cpu_of "$(worker "$SRVA")")
  stop_pid "$SRVA"
  SA_LINE=$(grep "tickwire stopped" "$TMP/srv-a.out" || true)
  SA_IN=$(kv "$SA_LINE" in)
  SA_DROPS=$(grep -o 'drops\[[^]]*\]' <<<"$SA_LINE" || true)
  SRV_RX=$(calc "%.0f" "$SA_IN / (($C1 - $C0) > 0 ? ($C1 - $C0) : 1e-9)")
  FLOOD2_LINE=$(cat "$TMP/flood2.out")
}
run_a2 "" ""

# (c, d) bots against several matches -------------------------------------------------
# run_c EXTRA_SERVER_FLAGS EXTRA_BOTS_FLAGS: sets SERVED, ROWS and the LAST_* figures.
run_c() {
SERVED=0
ROWS=()
LAST_JSON=""
LAST_SRV_US=""
local N K P SRVC C0 C1 JSON
for N in $CLIENTS; do
  # Matches of at most PER_MATCH players: up to 146 arena players fit one datagram.
  K=$(( (N + PER_MATCH - 1) / PER_MATCH )); [ "$K" -lt 2 ] && K=2
  P=$(port)
  timeout $((LOAD_S + 40)) "${SRV[@]}" "$SERVER" serve --bind "127.0.0.1:$P" --lobby off --max-clients-per-ip 255 --challenges-per-ip 100000 --matches "$K" --stats-interval-ms 0 $SERVE_ARGS $1 >"$TMP/srv-c.out" 2>"$TMP/srv-c.err" &
  PIDS+=($!); SRVC=$!
  wait_for_line "$TMP/srv-c.out" "tickwire listening"
  C0=$(cpu_of "$(worker "$SRVC")")
  JSON=$(timeout $((LOAD_S + 30)) "${LOAD[@]}" "$BOTS" --server "127.0.0.1:$P" --matches "$K" --clients "$N" \
    --seconds "$LOAD_S" --json --progress 0 --seed 1 $2 2>"$TMP/bots.err" || true)
  C1=$(cpu_of "$(worker "$SRVC")")
  stop_pid "$SRVC"
  SC_LINE=$(grep "tickwire stopped" "$TMP/srv-c.out" || true)
  if [ -z "$JSON" ]; then
    echo "bench-e2e: tickwire-bots failed for N=$N:" >&2; cat "$TMP/bots.err" >&2
    continue
  fi
  CONN=$(jnum "$JSON" connected)
  DELIV=$(jnum "$JSON" delivery)
  SNAPS=$(jnum "$JSON" snapshots_received)
  SMIN=$(calc "%.2f" "$(jnum "$JSON" snapshots_per_s_min)")
  BUSY=$(jnum "$(jobj "$JSON" cpu)" busy)
  RTT99=$(jnum "$(jobj "$JSON" rtt_ms)" p99)
  L50=$(kv "$SC_LINE" p50); L99=$(kv "$SC_LINE" p99); L999=$(kv "$SC_LINE" 'p99\.9'); LMAX=$(kv "$SC_LINE" max)
  SIN=$(kv "$SC_LINE" in)
  # Server CPU per delivered snapshot (= per client per tick), all work included; and
  # with the receive path's share (its datagrams at the rate measured in (a2)) taken out.
  SRV_US=$(calc "%.3f" "($C1 - $C0) * 1e6 / ($SNAPS > 0 ? $SNAPS : 1)")
  SRV_BC_US=$(calc "%.3f" "(($C1 - $C0) - $SIN / ($SRV_RX > 0 ? $SRV_RX : 1e18)) * 1e6 / ($SNAPS > 0 ? $SNAPS : 1)")
  OK=$(awk -v c="$CONN" -v n="$N" -v d="$DELIV" 'BEGIN { print (c == n && d >= 0.999) ? "yes" : "no" }')
  [ "$OK" = yes ] && [ "$N" -gt "$SERVED" ] && SERVED=$N
  ROWS+=("$(printf '  %-6s %-3s %-9s %-9s %-8s %-8s %-26s %-9s %-9s %-10s %s' \
    "$N" "$K" "$CONN" "$(calc '%.4f' "$DELIV * 100")%" "$SMIN" "$RTT99" "$L50/$L99/$L999/$LMAX" \
    "$SRV_US" "$SRV_BC_US" "$(calc '%.0f' "$BUSY * 100")%" "$OK")")
  LAST_JSON=$JSON; LAST_SRV_US=$SRV_US; LAST_SRV_BC_US=$SRV_BC_US; LAST_N=$N
  LAST_LATE="$L50/$L99/$L999/$LMAX"
done
}
run_c "" ""

# (b) bare sendmmsg broadcast of the same datagrams -----------------------------------
if [ -n "$LAST_JSON" ]; then
  RECV=$(jobj "$LAST_JSON" received)
  DG=$(jnum "$RECV" datagrams); BY=$(jnum "$RECV" bytes); SN=$(jnum "$LAST_JSON" snapshots_received)
  SIZE=$(calc "%.0f" "$BY / ($DG > 0 ? $DG : 1)")
  PARTS=$(calc "%.0f" "$DG / ($SN > 0 ? $SN : 1)")
  [ "$PARTS" -lt 1 ] && PARTS=1
else
  LAST_N=255; SIZE=1000; PARTS=2; LAST_SRV_US=nan; LAST_SRV_BC_US=nan; LAST_LATE="-"
fi
PIN=()
[ -n "$SCPU" ] && PIN=(--sender-cpu "$SCPU" --drain-cpu "$LCPU")
BC_LINE=$(timeout $((BCAST_S + 30)) "$RAWREF" bcast --clients "$LAST_N" --hz 60 --size "$SIZE" --parts "$PARTS" \
  --seconds "$BCAST_S" "${PIN[@]}")
RAW_BC=$(kv "$BC_LINE" us_per_client_tick)

# Secure mode: (a), (c) and the broadcast figure again, against `serve --secure` ------------
P_SRV_RX=$SRV_RX; P_SA_IN=$SA_IN; P_SA_DROPS=$SA_DROPS; PLAIN_FLOOD_LINE=$FLOOD2_LINE
if [ "$SECURE" = 1 ]; then
  P_SERVED=$SERVED; P_ROWS=("${ROWS[@]:-}"); P_LAST_SRV_US=$LAST_SRV_US; P_LAST_SRV_BC_US=$LAST_SRV_BC_US; P_LAST_LATE=$LAST_LATE; P_LAST_N=$LAST_N
  KEY="$TMP/fleet.key"
  "$SERVER" token keygen "$KEY" >/dev/null
  run_a2 "--secure --token-key $KEY" "--token-key $KEY"
  S_SRV_RX=$SRV_RX; S_SA_IN=$SA_IN; S_SA_DROPS=$SA_DROPS; S_FLOOD_LINE=$FLOOD2_LINE
  run_c "--secure --token-key $KEY" "--token-key $KEY"
  S_SERVED=$SERVED; S_ROWS=("${ROWS[@]:-}"); S_LAST_SRV_US=$LAST_SRV_US; S_LAST_SRV_BC_US=$(calc "%.3f" "${LAST_SRV_BC_US:-0}"); S_LAST_LATE=$LAST_LATE; S_LAST_N=$LAST_N
  # The secure broadcast's receive share is taken out at the secure (a) rate.
  SERVED=$P_SERVED; ROWS=("${P_ROWS[@]:-}"); LAST_SRV_US=$P_LAST_SRV_US; LAST_SRV_BC_US=$P_LAST_SRV_BC_US; LAST_LATE=$P_LAST_LATE; LAST_N=$P_LAST_N
fi
SRV_RX=$P_SRV_RX; SA_IN=$P_SA_IN; SA_DROPS=$P_SA_DROPS

# (e) the table -----------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "" && a != "nan") printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "tickwire end-to-end benchmark $( [ "$QUICK" = 1 ] && echo '(--quick: short smoke run, not a measurement)')"
echo "arrangement: $ARRANGEMENT; loopback 127.0.0.1; $(date -u +%FT%TZ)"
echo
printf '%-58s %-18s %-18s %s\n' "metric" "tickwire" "bare reference" "ratio"
printf '%-58s %-18s %-18s %s\n' "(a) receive: datagrams per cpu-second (flood ${FLOOD_S}s)" "$SRV_RX" "$RAW_RX" "$(ratio "$SRV_RX" "$RAW_RX")"
printf '%-58s %-18s %-18s %s\n' "(b) broadcast: cpu us per client per tick (N=$LAST_N)" "$LAST_SRV_US" "$RAW_BC" "$(ratio "$LAST_SRV_US" "$RAW_BC")"
printf '%-58s %-18s %-18s %s\n' "    same, receive-path share removed" "$LAST_SRV_BC_US" "$RAW_BC" "$(ratio "$LAST_SRV_BC_US" "$RAW_BC")"
printf '%-58s %-18s\n' "(c) clients served at 60 Hz, delivery >= 99.9%" "$SERVED (of tried: $CLIENTS)"
printf '%-58s %-18s\n' "(d) tick start lateness us p50/p99/p99.9/max (N=$LAST_N)" "$LAST_LATE"
if [ "$SECURE" = 1 ]; then
  printf '%-58s %-18s %-18s %s\n' "(a) secure receive: datagrams per cpu-second" "$S_SRV_RX" "$RAW_RX" "$(ratio "$S_SRV_RX" "$RAW_RX")"
  printf '%-58s %-18s %-18s %s\n' "(b) secure broadcast: cpu us per client per tick (N=$S_LAST_N)" "$S_LAST_SRV_US" "$RAW_BC" "$(ratio "$S_LAST_SRV_US" "$RAW_BC")"
  printf '%-58s %-18s %-18s %s\n' "    same, secure receive-path share removed" "$S_LAST_SRV_BC_US" "$RAW_BC" "$(ratio "$S_LAST_SRV_BC_US" "$RAW_BC")"
  printf '%-58s %-18s %-18s %s\n' "(c) secure clients served at 60 Hz (vs plain)" "$S_SERVED" "$SERVED" "$(ratio "$S_SERVED" "$SERVED")"
  printf '%-58s %-18s\n' "(d) secure tick start lateness us p50/p99/p99.9/max (N=$S_LAST_N)" "$S_LAST_LATE"
  printf '%-58s %-18s %-18s %s\n' "secure vs plain: receive rate, broadcast cpu" "$S_SRV_RX" "$SRV_RX" "$(ratio "$S_SRV_RX" "$SRV_RX"), $(ratio "$S_LAST_SRV_US" "$LAST_SRV_US")"
fi
echo
echo "details"
echo "  (a) flood: $PLAIN_FLOOD_LINE"
echo "      server: in=$SA_IN $SA_DROPS; bare drain: $DRAIN_LINE (wall rate ${RAW_RX_WALL}/s)"
echo "  (b) bare broadcast: $BC_LINE"
echo "      server figures: server cpu during the bots' run / snapshots delivered; the second line"
echo "      subtracts the server's datagrams in at the (a) rate. Datagram size $SIZE B x $PARTS per tick."
echo "  (c,d) per run (K = matches; min snap/s = slowest bot; srv us = cpu us per client-tick; bots cpu = load generator busy):"
printf '  %-6s %-3s %-9s %-9s %-8s %-8s %-26s %-9s %-9s %-10s %s\n' N K connected delivery "min s/s" "rtt p99" "late p50/p99/p99.9/max us" "srv us" "srv bc us" "bots cpu" ok
for r in "${ROWS[@]:-}"; do echo "$r"; done
if [ "$SECURE" = 1 ]; then
  echo "  secure (a) flood: $S_FLOOD_LINE"
  echo "      server: in=$S_SA_IN $S_SA_DROPS"
  echo "  secure (c,d) per run:"
  for r in "${S_ROWS[@]:-}"; do echo "$r"; done
fi
echo "  a bots cpu near 100% means the one-thread load generator, not the server, may be the limit."
