#!/usr/bin/env bash
# Soak under a real impaired network.
#
# Puts the server and the load generator in two network namespaces of their own, joined by
# a veth pair whose both ends run `tc netem` (delay 50ms +/- 20ms, 10% loss, 5% duplication,
# 5% reordering by default), runs N bots for a while and prints: clients dropped, loss
# measured against loss configured, duplicates processed (must be 0), tick lateness p99,
# and the server's memory at start and end.
#
# If the kernel has no sch_netem (adding the qdisc fails), the impairment runs in userspace
# instead: tickwire-netem in the bots' namespace, listening on 169.254.77.2:7000 and
# forwarding over the veth pair to the server at 169.254.77.1:7777 with the same
# parameters (applied per direction, as netem on each veth end); the bots talk to the
# proxy, and the report compares their measured loss with what the proxy really dropped.
#
# Needs root (network namespaces); installs iproute2 itself if `ip`/`tc` are missing.
# Traffic stays inside the two namespaces this script creates (link-local addresses on the
# veth pair); everything is removed on exit.
#
# With --secure, the server runs `serve --secure` (PROTOCOL.md section 8) with a fresh
# fleet key and the bots connect with tokens minted from it; the report adds the
# authentication failures each side counted (bad_auth: must be 0, impairment is not
# forgery).
#
# Usage: tools/soak.sh [--seconds S] [--clients N] [--loss PCT] [--delay MS] [--jitter MS]
#                      [--quick] [--no-build] [--secure]
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_RUN=600
CLIENTS=64
DELAY_MS=50
JITTER_MS=20
LOSS=10
DUP=5
REORDER=5
BUILD=1
SECURE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_RUN="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --loss) LOSS="$2"; shift 2 ;;
    --delay) DELAY_MS="$2"; shift 2 ;;
    --jitter) JITTER_MS="$2"; shift 2 ;;
    --quick) SECONDS_RUN=20; shift ;;
    --no-build) BUILD=0; shift ;;
    --secure) SECURE=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
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
  cargo build --release --locked --bin tickwire --bin tickwire-bots --bin tickwire-netem >&2
fi
BIN=target/release

TAG="tw$$"
NS_S="${TAG}s"; NS_B="${TAG}b"; VS="${TAG}vs"; VB="${TAG}vb"
SRV_IP=169.254.77.1; BOT_IP=169.254.77.2; PORT=7777; PROXY_PORT=7000
WORK=$(mktemp -d)
SRV_PID=""
BOTS_PID=""
PROXY_PID=""

# Each PID is `timeout`'s (ip netns exec execs it), which passes TERM on to its child;
# whatever is still alive after 2 s is killed, child first.
stop_pid() {
  local pid=$1
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  for child in $(pgrep -P "$pid" 2>/dev/null); do kill -KILL "$child" 2>/dev/null || true; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  for pid in "$BOTS_PID" "$PROXY_PID" "$SRV_PID"; do stop_pid "$pid"; done
  ip netns del "$NS_S" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
JIT=""
[ "$JITTER_MS" = 0 ] || JIT=" ${JITTER_MS}ms distribution normal"
NETEM="delay ${DELAY_MS}ms${JIT} loss ${LOSS}% duplicate ${DUP}% reorder ${REORDER}% 50%"
# Kernel netem on both veth ends if the kernel has it (probed with a minimal qdisc, so a
# bad parameter below still fails loudly); otherwise tickwire-netem (below).
IMPAIR=kernel
if ip netns exec "$NS_S" tc qdisc add dev "$VS" root netem delay 1ms 2>"$WORK/tc.err"; then
  ip netns exec "$NS_S" tc qdisc del dev "$VS" root
  ip netns exec "$NS_S" tc qdisc add dev "$VS" root netem $NETEM limit 100000
  ip netns exec "$NS_B" tc qdisc add dev "$VB" root netem $NETEM limit 100000
else
  IMPAIR=userspace
  echo "soak.sh: kernel has no sch_netem: impairing in userspace with tickwire-netem (tc said: $(tr '\n' ' ' <"$WORK/tc.err"))" >&2
fi
frac() { python3 -c "import sys; print(float(sys.argv[1]) / 100)" "$1"; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# wait_listening LINE OUT ERR WHAT: waits up to 10 s for LINE in OUT (a binary's first
# "... listening" line); without it, says WHAT did not start, shows ERR and fails.
wait_listening() {
  for _ in $(seq 100); do
    grep -q "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$4 did not start" >&2; cat "$3" >&2; exit 1
}

SRV_SECURE=""
BOTS_SECURE=""
if [ "$SECURE" = 1 ]; then
  "$BIN/tickwire" token keygen "$WORK/fleet.key" >/dev/null
  SRV_SECURE="--secure --token-key $WORK/fleet.key"
  BOTS_SECURE="--token-key $WORK/fleet.key"
fi
# Every bot comes from the one address of the bots' namespace: lift the per-IP limits.
ip netns exec "$NS_S" timeout $((SECONDS_RUN + 120)) "$BIN/tickwire" serve \
  --bind "$SRV_IP:$PORT" --lobby off --stats-interval-ms 10000 \
  --max-clients-per-ip 255 --challenges-per-ip 100000 $SRV_SECURE \
  >"$WORK/server.out" 2>"$WORK/server.err" &
SRV_PID=$!
wait_listening "tickwire listening" "$WORK/server.out" "$WORK/server.err" server

TARGET="$SRV_IP:$PORT"
PROXY_ARGS=""
if [ "$IMPAIR" = userspace ]; then
  PROXY_ARGS="--delay-ms $DELAY_MS --jitter-ms $JITTER_MS --jitter-dist normal --loss $(frac "$LOSS") --dup $(frac "$DUP") --reorder $(frac "$REORDER")"
  ip netns exec "$NS_B" timeout $((SECONDS_RUN + 180)) "$BIN/tickwire-netem" \
    --listen "$BOT_IP:$PROXY_PORT" --upstream "$SRV_IP:$PORT" $PROXY_ARGS --stats-secs 10 \
    >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
  PROXY_PID=$!
  wait_listening "tickwire-netem listening" "$WORK/proxy.out" "$WORK/proxy.err" tickwire-netem
  TARGET="$BOT_IP:$PROXY_PORT"
fi

ip netns exec "$NS_B" timeout $((SECONDS_RUN + 60)) "$BIN/tickwire-bots" \
  --server "$TARGET" --clients "$CLIENTS" --seconds "$SECONDS_RUN" \
  --connect-rate 50 --progress 0 --json $BOTS_SECURE >"$WORK/bots.json" 2>"$WORK/bots.err" &
BOTS_PID=$!
# Memory "at start": once every bot has had time to connect and the server is warm.
sleep 10
RSS_START=$(rss_kib "$SRV_PID")
# Exit 3 (some bots failed or were dropped) is reported below, not fatal: over an impaired
# link that is part of what the soak measures.
BOTS_RC=0; wait "$BOTS_PID" || BOTS_RC=$?
if [ "$BOTS_RC" -ne 0 ] && [ "$BOTS_RC" -ne 3 ]; then
  echo "load generator failed (exit $BOTS_RC)" >&2; cat "$WORK/bots.err" >&2; exit 1
fi
BOTS_PID=""
# Let datagrams still delayed on the link (the bots' BYEs) reach the server first.
sleep 1
RSS_END=$(rss_kib "$SRV_PID")
kill -TERM "$SRV_PID"
wait "$SRV_PID" || true
SRV_PID=""
FINAL=$(grep "tickwire stopped" "$WORK/server.out" || true)
PROXY_FINAL=""
if [ -n "$PROXY_PID" ]; then
  kill -TERM "$PROXY_PID"
  wait "$PROXY_PID" || true
  PROXY_PID=""
  PROXY_FINAL=$(grep "tickwire-netem stopped" "$WORK/proxy.err" || true)
  [ -n "$PROXY_FINAL" ] || { echo "tickwire-netem printed no final stats" >&2; cat "$WORK/proxy.err" >&2; }
fi

python3 - "$WORK/bots.json" "$FINAL" "$RSS_START" "$RSS_END" "$SECONDS_RUN" "$CLIENTS" "$NETEM" "$IMPAIR" "$PROXY_ARGS" "$PROXY_FINAL" "$SECURE" <<'EOF'
import json, re, sys
bots = json.load(open(sys.argv[1]))
final, rss0, rss1, secs, n, netem = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
impair, proxy_args, proxy_final = sys.argv[8], sys.argv[9], sys.argv[10]
secure = sys.argv[11] == "1"
def group(line, name):
    m = re.search(r"\b%s\[(.*?)\]" % re.escape(name), line)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))} if m else {}
def pct(a, b):
    return f"{a / b * 100:.2f}%" if b else "n/a"
def field(name):
    m = re.search(r"\b%s=(\d+)" % re.escape(name), final)
    return int(m.group(1)) if m else 0
drops = dict(re.findall(r"(\w+)=(\d+)", (re.search(r"drops\[(.*?)\]", final) or [None, ""])[1]))
late = re.search(r"tick_late_us p50=(\d+) p99=(\d+) p99\.9=(\d+) max=(\d+)", final)
if impair == "kernel":
    print(f"tickwire soak: {n} clients for {secs} s over kernel netem on both veth ends: {netem}")
else:
    print(f"tickwire soak: {n} clients for {secs} s over tickwire-netem (kernel has no sch_netem), per direction: {proxy_args}")
print(f"  clients connected by the bots      {bots['connected']} of {bots['clients']} (failed {bots['failed']}, rejected {bots['rejected']})")
print(f"  clients dropped                    {bots['dropped']} (bots saw BYE/timeout); server timeouts {field('timeouts')}")
print(f"  loss configured                    {netem.split('loss ')[1].split()[0]} per direction")
if impair != "kernel":
    up, down = group(proxy_final, "up"), group(proxy_final, "down")
    for name, d in (("uplink", up), ("downlink", down)):
        print(f"  proxy {name:<8} actually            lost {d.get('lost', 0)} of {d.get('in', 0)} ({pct(d.get('lost', 0), d.get('in', 0))}), "
              f"duplicated {d.get('duplicated', 0)} ({pct(d.get('duplicated', 0), d.get('in', 0))}), "
              f"reordered {d.get('reordered', 0)}, queue drops {d.get('queue_drops', 0)}, send errors {d.get('send_errors', 0)}")
print(f"  datagram loss measured (downlink)  {bots['loss']*100:.2f}% (server seqs the bots never saw; {bots['datagrams_late']} more arrived late,")
print(f"                                     after a newer one, and were dropped as the window says; {bots['datagrams_dropped']} dropped by the bots in all)")
print(f"  snapshot delivery                  {bots['delivery']*100:.2f}% of ticks ({bots['snapshot_ticks_lost']} ticks missed)")
print(f"  ticks usable for rendering         {bots.get('render_usable', 0)*100:.2f}% (interpolation delay {bots.get('render_delay_ms', 0):.1f} ms, mean of bots)")
print(f"  uplink loss seen by the server     {field('lost')} client seqs never seen, {field('late')} late, of {field('in')} datagrams in")
print(f"  duplicates dropped by the server   {drops.get('duplicate', '0')}; duplicates processed: 0 (the window accepts a seq once)")
print(f"  late (reordered) dropped           {drops.get('late', '0')} by the server; older than the window {drops.get('old', '0')}")
if late:
    print(f"  tick lateness us p50/p99/p99.9/max {late.group(1)}/{late.group(2)}/{late.group(3)}/{late.group(4)}")
if secure:
    print(f"  secure mode                        bad_auth {drops.get('bad_auth', '0')}, bad_token {drops.get('bad_token', '0')}, "
          f"token_reused {drops.get('token_reused', '0')} at the server (impairment is not forgery: all 0)")
print(f"  server RSS start/end               {rss0} KiB / {rss1} KiB (grew {rss1 - rss0} KiB)")
print(f"  rtt ms p50/p99/max                 {bots['rtt_ms']['p50']:.1f}/{bots['rtt_ms']['p99']:.1f}/{bots['rtt_ms']['max']:.1f}")
print(f"  server final line: {final}")
if impair != "kernel":
    print(f"  proxy final line:  {proxy_final}")
EOF
