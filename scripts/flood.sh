#!/usr/bin/env bash
# Hostile-peer flood (issue 14): a release `l2tpgw serve` in a network namespace, an
# established session and a legitimate prober in a second one, an attacker in a third,
# and one attack after the other for FLOOD_SECONDS each. For every attack it reports the
# gateway's CPU per attack packet, its RSS growth, the share of legitimate first
# messages answered within 1 s (and their median answer time), the session's ping loss,
# what the gateway sent back to the attacker against what it received, and log lines
# per attack packet, next to the issue's targets (PASS/FAIL). docs/flood.md explains it.
#
#   sudo scripts/flood.sh                         # 10 s per attack at 5000 packets/s
#   sudo scripts/flood.sh --seconds 5 --rate 2000 --attacks "none bad-mm3"
#   sudo scripts/flood.sh --json                  # the report as JSON
#   sudo scripts/flood.sh --check                 # exit 1 when a target fails (for CI)
#   sudo scripts/flood.sh --l2tpgw /path/to/l2tpgw --commit 04ec4e7   # another build
#
# Options (or the environment variable in brackets):
#   --seconds N    length of each attack [FLOOD_SECONDS, 10]
#   --rate R       attack packets per second [FLOOD_RATE, 5000]
#   --log-rate R   rate of the 16 KB log-flooding first messages [FLOOD_LOG_RATE, 20]
#   --attacks "…"  which runs, in order [FLOOD_ATTACKS; default: none bad-mm3
#                  spoofed-mm1 junk-4500 fragments big-proposal; `none` is the baseline
#                  whose CPU is subtracted from the others']
#   --l2tpgw PATH  measure this binary instead of building the working tree's
#   --commit TEXT  what to call that binary in the report (default: the tree's commit)
#   --keep         keep the run directory (gateway and client logs, `l2tpgw status`
#                  after each attack, the raw figures) and print its path
#   --json, --check
#
# Addresses (all inside the namespaces this script creates and deletes):
#   gateway 192.0.2.1 (it listens there only; the attacker reaches it through its other
#   link, 203.0.113.1, so attack and legitimate traffic share the gateway's sockets);
#   session client 192.0.2.2, prober 198.51.100.1-254 (a local route in its namespace);
#   attacker 203.0.113.2, spoofed sources anywhere in 198.18.0.0/15 (RFC 2544's
#   benchmarking range, a local route in the attacker's namespace, routed back to it
#   from the gateway's, so every answer stays inside).
#
# Needs root (namespaces, TUN) and ping (installed with apt-get when missing). It creates
# namespaces l2tpgw-flood-<pid>-{s,a,l} and removes them, and kills only the processes it
# started, by PID. Attacker, prober and gateway share this machine's cores: the load
# average is printed with every row; compare runs on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FLOOD_SECONDS:-10}
rate=${FLOOD_RATE:-5000}
log_rate=${FLOOD_LOG_RATE:-20}
attacks=${FLOOD_ATTACKS:-none bad-mm3 spoofed-mm1 junk-4500 fragments big-proposal}
bin=""
commit=""
report_flags=()
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --log-rate) log_rate=$2; shift 2 ;;
    --attacks) attacks=$2; shift 2 ;;
    --l2tpgw) bin=$2; shift 2 ;;
    --commit) commit=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --json) report_flags+=(--json); shift ;;
    --check) report_flags+=(--check); shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "flood: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$seconds" "$rate" "$log_rate"; do
  case "$n" in
    '' | *[!0-9]* | 0) echo "flood: --seconds, --rate and --log-rate take positive integers" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "flood: needs root (network namespaces, TUN devices, local routes for the spoofed range); run it with sudo" >&2
  exit 1
fi
if ! command -v ping >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iputils-ping >/dev/null
fi

target="${CARGO_TARGET_DIR:-target}"
if [ -z "$bin" ]; then
  cargo build --release -q -p gateway
  bin="$target/release/l2tpgw"
  if [ -z "$commit" ]; then
    commit=$(git log -1 --format=%h 2>/dev/null || echo unknown)
    if [ -n "$(git status --porcelain -- Cargo.toml Cargo.lock wire esp ike l2tp ppp gateway gateway-core 2>/dev/null)" ]; then
      commit="$commit+uncommitted"
    fi
  fi
fi
cargo build --release -q -p tests --bin flood
flood=$(realpath "$target/release/flood")
bin=$(realpath "$bin")
commit=${commit:-unknown}

s="l2tpgw-flood-$$-s"
a="l2tpgw-flood-$$-a"
l="l2tpgw-flood-$$-l"
dir=$(mktemp -d)
pids=()
# Forgets the PID of a process of ours that has been reaped (so it is never killed
# later, when the number may belong to someone else).
forget() {
  local keep=() q
  for q in "${pids[@]}"; do [ "$q" = "$1" ] || keep+=("$q"); done
  pids=("${keep[@]+"${keep[@]}"}")
}
# Stops one of our processes (TERM, then KILL after 5 s), reaps it and forgets it.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
  for n in "$s" "$a" "$l"; do ip netns delete "$n" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then
    echo "flood: logs and raw figures kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT

for n in "$s" "$a" "$l"; do
  ip netns add "$n"
  ip -n "$n" link set lo up
done
ip link add "fs$$" netns "$s" type veth peer name "fa$$" netns "$a"
ip link add "fl$$" netns "$s" type veth peer name "fc$$" netns "$l"
ip -n "$s" addr add 203.0.113.1/24 dev "fs$$"
ip -n "$a" addr add 203.0.113.2/24 dev "fa$$"
ip -n "$s" addr add 192.0.2.1/24 dev "fl$$"
ip -n "$l" addr add 192.0.2.2/24 dev "fc$$"
ip -n "$s" link set "fs$$" up
ip -n "$s" link set "fl$$" up
ip -n "$a" link set "fa$$" up
ip -n "$l" link set "fc$$" up
# The attacker owns the whole spoofed range (AnyIP) and gets every answer sent to it.
ip -n "$a" route add local 198.18.0.0/15 dev lo
ip -n "$s" route add 198.18.0.0/15 via 203.0.113.2
# The attacker aims at the address legitimate clients use, through its own link, so
# the link's counters hold only attack traffic and the gateway's answers to it.
ip -n "$a" route add 192.0.2.1/32 via 203.0.113.1
# The prober's 254 client addresses, the same way.
ip -n "$l" route add local 198.51.100.0/24 dev lo
ip -n "$s" route add 198.51.100.0/24 via 192.0.2.2

# The prober sends 100 first messages a second and each leaves a half-open SA for 30 s:
# the table holds those on top of the default 1024, so that the prober alone never
# fills it.
probe_rate=100
half_open=$((1024 + probe_rate * (seconds + 5)))
cat >"$dir/gateway.toml" <<EOF
listen = ["192.0.2.1"]
status_socket = "$dir/l2tpgw.sock"

[limits]
half_open_ike_sas = $half_open
EOF

ticks=$(getconf CLK_TCK)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
# CPU time (user + system, all threads) of a process, in clock ticks.
cpu() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# A field of /proc/<pid>/status, in kB.
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# A counter of the gateway's link to the attacker.
link_stat() { ip netns exec "$s" cat "/sys/class/net/fs$$/statistics/$1"; }
# Bytes waiting in the receive queues of the server namespace's UDP sockets (the
# gateway's: nothing else runs there).
udp_queued() {
  local total=0 q
  for q in $(ip netns exec "$s" awk 'NR > 1 { split($5, t, ":"); print t[2] }' /proc/net/udp); do
    total=$((total + 16#$q))
  done
  echo "$total"
}
# UDP datagrams the server namespace's kernel dropped for full socket buffers.
rcvbuf_errors() {
  ip netns exec "$s" awk '$1 == "Udp:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; n = 1 } else print $c }' /proc/net/snmp
}

run_one() {
  local kind=$1 out="$dir/run-$1.txt" log="$dir/server-$1.log" r=$rate
  [ "$kind" = big-proposal ] && r=$log_rate
  ip netns exec "$s" "$bin" serve --config "$dir/gateway.toml" --psk floodsecret \
    --user flood:floodpw >"$log" 2>&1 &
  local server=$!
  pids+=("$server")
  for _ in $(seq 100); do [ -S "$dir/l2tpgw.sock" ] && break; sleep 0.1; done
  ip netns exec "$l" "$bin" connect 192.0.2.1 --psk floodsecret --user flood \
    --password floodpw >"$dir/client-$kind.log" 2>&1 &
  local client=$!
  pids+=("$client")
  local inner=""
  for _ in $(seq 150); do
    inner=$(ip -n "$l" -4 -o addr show dev l2tpgwc0 2>/dev/null | awk '{ print $4 }' | cut -d/ -f1 || true)
    [ -n "$inner" ] && break
    sleep 0.1
  done
  if [ -z "$inner" ]; then
    echo "flood: the session did not come up before $kind" >&2
    tail -20 "$log" "$dir/client-$kind.log" >&2
    exit 1
  fi
  sleep 0.5

  local t0 c0 rss0 rxb0 rxp0 txb0 txp0 l0
  t0=$(date +%s%N); c0=$(cpu "$server"); rss0=$(status_kb "$server" VmRSS)
  rxb0=$(link_stat rx_bytes); rxp0=$(link_stat rx_packets)
  txb0=$(link_stat tx_bytes); txp0=$(link_stat tx_packets)
  l0=$(wc -l <"$log")
  local d0
  d0=$(rcvbuf_errors)

  ip netns exec "$l" "$flood" probe --target 192.0.2.1 --from 198.51.100.0/24 \
    --seconds "$seconds" --interval-ms $((1000 / probe_rate)) >"$dir/probe-$kind.txt" &
  local prober=$!
  pids+=("$prober")
  ip netns exec "$l" ping -q -n -i 0.05 -W 1 -c $((seconds * 20)) 10.77.0.1 \
    >"$dir/ping-$kind.txt" 2>&1 &
  local pinger=$!
  pids+=("$pinger")
  if ! ip netns exec "$a" "$flood" attack "$kind" --target 192.0.2.1 --real 203.0.113.2 \
    --spoof 198.18.0.0/15 --rate "$r" --seconds "$seconds" >"$out"; then
    echo "flood: attack $kind failed" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  wait "$prober" || true
  wait "$pinger" || true
  forget "$prober"
  forget "$pinger"
  # Let the gateway work off what its sockets still hold (at most 60 s), so that its CPU
  # covers every attack packet it took in, and the rest were counted as dropped.
  local drained=0
  for _ in $(seq 600); do
    [ "$(udp_queued)" = 0 ] && { drained=1; break; }
    sleep 0.1
  done
  [ "$drained" = 1 ] || echo "flood: $kind: the gateway's sockets still hold data after 60 s" >&2

  local t1 c1
  t1=$(date +%s%N); c1=$(cpu "$server")
  local ping_line ptx prx
  ping_line=$(grep -o '[0-9]* packets transmitted, [0-9]* received' "$dir/ping-$kind.txt" || true)
  ptx=$(echo "$ping_line" | awk '{ print $1 }')
  prx=$(echo "$ping_line" | awk '{ print $4 }')
  {
    cat "$dir/probe-$kind.txt"
    echo "commit=$commit"
    echo "cpu_model=$cpu_model"
    echo "cores=$(nproc)"
    echo "clk_tck=$ticks"
    echo "cpu_ticks=$((c1 - c0))"
    echo "window_ns=$((t1 - t0))"
    echo "rss_before_kb=$rss0"
    echo "hwm_after_kb=$(status_kb "$server" VmHWM)"
    echo "rss_after_kb=$(status_kb "$server" VmRSS)"
    echo "if_rx_bytes=$(($(link_stat rx_bytes) - rxb0))"
    echo "if_rx_packets=$(($(link_stat rx_packets) - rxp0))"
    echo "if_tx_bytes=$(($(link_stat tx_bytes) - txb0))"
    echo "if_tx_packets=$(($(link_stat tx_packets) - txp0))"
    echo "log_lines=$(($(wc -l <"$log") - l0))"
    echo "rcvbuf_drops=$(($(rcvbuf_errors) - d0))"
    echo "ping_tx=${ptx:-0}"
    echo "ping_rx=${prx:-0}"
    echo "load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
  } >>"$out"
  # The gateway's own counters (since its start), for the JSON report.
  "$bin" status --socket "$dir/l2tpgw.sock" >"$dir/status-$kind.txt" 2>&1 || true
  awk '/^counters:/ { c = 1; next } c && NF == 2 { print "gw." $1 "=" $2 }' \
    "$dir/status-$kind.txt" >>"$out"
  stop "$client"
  stop "$server"
  rm -f "$dir/l2tpgw.sock"
}

echo "flood: l2tpgw $commit ($bin); $cpu_model, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "flood: ${seconds} s per attack at ${rate}/s (big-proposal at ${log_rate}/s); prober ${probe_rate} first messages/s; half_open_ike_sas = $half_open" >&2
files=()
for kind in $attacks; do
  echo "flood: $kind" >&2
  run_one "$kind"
  files+=("$dir/run-$kind.txt")
done
"$flood" report "${report_flags[@]+"${report_flags[@]}"}" "${files[@]}"
