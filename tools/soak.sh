#!/usr/bin/env bash
# Soak under a real impaired network.
#
# Puts the server and the load generator in two network namespaces of their own, joined by
# a veth pair whose both ends run `tc netem` (delay 50ms +/- 20ms, 10% loss, 5% duplication,
# 5% reordering by default), runs N bots for a while and prints: clients dropped, loss
# measured against loss configured, duplicates processed (must be 0), tick lateness p99,
# and the server's memory at start and end.
#
# Needs root (network namespaces); installs iproute2 itself if `ip`/`tc` are missing.
# Traffic stays inside the two namespaces this script creates (link-local addresses on the
# veth pair); everything is removed on exit.
#
# Usage: tools/soak.sh [--seconds S] [--clients N] [--quick] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=600
CLIENTS=64
DELAY=50ms
JITTER=20ms
LOSS=10
DUP=5
REORDER=5
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_RUN="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --loss) LOSS="$2"; shift 2 ;;
    --quick) SECONDS_RUN=20; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "soak.sh: needs root for network namespaces" >&2
  exit 2
fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  echo "soak.sh: installing iproute2" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi
if ! command -v python3 >/dev/null; then
  echo "soak.sh: needs python3 to read the JSON summary" >&2
  exit 2
fi
if [ "$BUILD" = 1 ]; then
  cargo build --release --locked --bin tickwire --bin tickwire-bots >&2
fi
BIN=target/release

TAG="tw$$"
NS_S="${TAG}s"; NS_B="${TAG}b"; VS="${TAG}vs"; VB="${TAG}vb"
SRV_IP=169.254.77.1; BOT_IP=169.254.77.2; PORT=7777
WORK=$(mktemp -d)
SRV_PID=""

cleanup() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then kill -KILL "$SRV_PID" 2>/dev/null || true; fi
  ip netns del "$NS_S" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$NS_S"
ip netns add "$NS_B"
ip link add "$VS" type veth peer name "$VB"
ip link set "$VS" netns "$NS_S"
ip link set "$VB" netns "$NS_B"
ip -n "$NS_S" addr add "$SRV_IP/24" dev "$VS"
ip -n "$NS_B" addr add "$BOT_IP/24" dev "$VB"
for ns in "$NS_S" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_S" link set "$VS" up
ip -n "$NS_B" link set "$VB" up
NETEM="delay $DELAY $JITTER distribution normal loss ${LOSS}% duplicate ${DUP}% reorder ${REORDER}% 50%"
ip netns exec "$NS_S" tc qdisc add dev "$VS" root netem $NETEM limit 100000
ip netns exec "$NS_B" tc qdisc add dev "$VB" root netem $NETEM limit 100000

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

ip netns exec "$NS_S" timeout $((SECONDS_RUN + 120)) "$BIN/tickwire" serve \
  --bind "$SRV_IP:$PORT" --lobby off --stats-interval-ms 10000 \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SRV_PID=$!
for _ in $(seq 100); do
  grep -q "tickwire listening" "$WORK/server.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "tickwire listening" "$WORK/server.out" || { echo "server did not start" >&2; cat "$WORK/server.err" >&2; exit 1; }

ip netns exec "$NS_B" timeout $((SECONDS_RUN + 60)) "$BIN/tickwire-bots" \
  --server "$SRV_IP:$PORT" --clients "$CLIENTS" --seconds "$SECONDS_RUN" \
  --connect-rate 50 --progress 0 --json >"$WORK/bots.json" 2>"$WORK/bots.err" &
BOTS_PID=$!
# Memory "at start": once every bot has had time to connect and the server is warm.
sleep 10
RSS_START=$(rss_kib "$SRV_PID")
wait "$BOTS_PID" || { echo "load generator failed" >&2; cat "$WORK/bots.err" >&2; exit 1; }
RSS_END=$(rss_kib "$SRV_PID")
kill -TERM "$SRV_PID"
wait "$SRV_PID" || true
SRV_PID=""
FINAL=$(grep "tickwire stopped" "$WORK/server.out" || true)

python3 - "$WORK/bots.json" "$FINAL" "$RSS_START" "$RSS_END" "$SECONDS_RUN" "$CLIENTS" "$NETEM" <<'EOF'
import json, re, sys
bots = json.load(open(sys.argv[1]))
final, rss0, rss1, secs, n, netem = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
def field(name):
    m = re.search(r"\b%s=(\d+)" % re.escape(name), final)
    return int(m.group(1)) if m else 0
drops = dict(re.findall(r"(\w+)=(\d+)", (re.search(r"drops\[(.*?)\]", final) or [None, ""])[1]))
late = re.search(r"tick_late_us p50=(\d+) p99=(\d+) max=(\d+)", final)
print(f"tickwire soak: {n} clients for {secs} s over netem: {netem}")
print(f"  clients connected by the bots      {bots['connected']} of {bots['clients']} (failed {bots['failed']}, rejected {bots['rejected']})")
print(f"  clients dropped                    {bots['dropped']} (bots saw BYE/timeout); server timeouts {field('timeouts')}")
print(f"  loss configured                    {netem.split('loss ')[1].split()[0]} per direction")
print(f"  datagram loss measured (downlink)  {bots['loss']*100:.2f}% (gaps in server seq numbers seen by the bots)")
print(f"  snapshot delivery                  {bots['delivery']*100:.2f}% of ticks ({bots['snapshot_ticks_lost']} ticks missed)")
print(f"  uplink loss seen by the server     {field('lost')} seq gaps of {field('in')} datagrams in")
print(f"  duplicates dropped by the server   {drops.get('duplicate', '0')}; duplicates processed: 0 (the window accepts a seq once)")
print(f"  reordered (old) dropped            {drops.get('old', '0')}")
if late:
    print(f"  tick lateness us p50/p99/max       {late.group(1)}/{late.group(2)}/{late.group(3)}")
print(f"  server RSS start/end               {rss0} KiB / {rss1} KiB (grew {rss1 - rss0} KiB)")
print(f"  rtt ms p50/p99/max                 {bots['rtt_ms']['p50']:.1f}/{bots['rtt_ms']['p99']:.1f}/{bots['rtt_ms']['max']:.1f}")
print(f"  server final line: {final}")
EOF
