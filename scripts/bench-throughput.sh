#!/usr/bin/env bash
# End-to-end throughput through the tunnel: `l2tpgw serve` and `l2tpgw connect` (release
# builds) in two network namespaces joined by a veth pair, iperf3 (TCP) through the
# tunnel for BENCH_SECONDS (default 10) each way. Prints Gbit/s, and the CPU seconds
# (user + system, from /proc/<pid>/stat) each l2tpgw process spent per GB carried.
#
#   sudo scripts/bench-throughput.sh            # BENCH_SECONDS=10, AES-256-CBC + HMAC-SHA1
#   sudo BENCH_RAW_ESP=1 scripts/bench-throughput.sh   # raw ESP (IP protocol 50), no UDP 4500
#
# Needs root (namespaces, TUN) and iperf3 (installed with apt-get when missing). It
# creates namespaces l2tpgw-bench-<pid>-{s,c} and removes them, and kills only the
# processes it started, by PID. Client and server share this machine's cores, so run
# it on a quiet machine and note the load (printed at the start and end).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-10}
if [ "$(id -u)" != 0 ]; then
  echo "bench-throughput: needs root (network namespaces, TUN)" >&2
  exit 1
fi
if ! command -v iperf3 >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3 >/dev/null
fi

cargo build --release -q -p gateway
bin="${CARGO_TARGET_DIR:-target}/release/l2tpgw"

s="l2tpgw-bench-$$-s"
c="l2tpgw-bench-$$-c"
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns delete "$s" 2>/dev/null || true
  ip netns delete "$c" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$s"
ip netns add "$c"
ip link add "vbs$$" netns "$s" type veth peer name "vbc$$" netns "$c"
ip -n "$s" addr add 192.0.2.1/24 dev "vbs$$"
ip -n "$c" addr add 192.0.2.2/24 dev "vbc$$"
for n in "$s" "$c"; do
  ip -n "$n" link set lo up
done
ip -n "$s" link set "vbs$$" up
ip -n "$c" link set "vbc$$" up

cat >"$dir/gateway.toml" <<EOF
listen = ["192.0.2.1"]
status_socket = "$dir/l2tpgw.sock"
EOF
connect_extra=()
if [ "${BENCH_RAW_ESP:-0}" = 1 ]; then
  # Honest NAT-D and no NAT: the client stays on port 500 and ESP is IP protocol 50.
  printf '[ike]\nforce_encapsulation = false\nraw_esp = true\n' >>"$dir/gateway.toml"
  connect_extra=(--standard-ports)
fi
ip netns exec "$s" "$bin" serve --config "$dir/gateway.toml" --psk benchsecret \
  --user bench:benchpw >"$dir/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 100); do [ -S "$dir/l2tpgw.sock" ] && break; sleep 0.1; done
ip netns exec "$c" "$bin" connect 192.0.2.1 --psk benchsecret --user bench \
  --password benchpw "${connect_extra[@]}" >"$dir/client.log" 2>&1 &
client=$!
pids+=("$client")
for _ in $(seq 100); do
  ip -n "$c" -4 -o addr show dev l2tpgwc0 2>/dev/null | grep -q 10.77.0. && break
  sleep 0.1
done
if ! ip -n "$c" -4 -o addr show dev l2tpgwc0 2>/dev/null | grep -q 10.77.0.; then
  echo "bench-throughput: the client did not come up" >&2
  tail -20 "$dir/server.log" "$dir/client.log" >&2
  exit 1
fi
ip netns exec "$s" iperf3 -s -B 10.77.0.1 >/dev/null 2>&1 &
pids+=("$!")
sleep 0.5

ticks=$(getconf CLK_TCK)
# CPU time (user + system) of a process, in clock ticks.
cpu() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; ${seconds} s each way; AES-256-CBC + HMAC-SHA1-96 (the linux profile's first ESP proposal)"
printf '%-24s %10s %22s %22s\n' direction Gbit/s "server CPU s/GB" "client CPU s/GB"
for dir_name in client-to-server server-to-client; do
  flag=()
  [ "$dir_name" = server-to-client ] && flag=(-R)
  s0=$(cpu "$server")
  c0=$(cpu "$client")
  ip netns exec "$c" iperf3 -c 10.77.0.1 -t "$seconds" -J "${flag[@]}" >"$dir/iperf.json"
  s1=$(cpu "$server")
  c1=$(cpu "$client")
  python3 - "$dir/iperf.json" "$dir_name" "$ticks" "$s0" "$s1" "$c0" "$c1" <<'EOF'
import json, sys
path, name, ticks, s0, s1, c0, c1 = sys.argv[1:]
r = json.load(open(path))["end"]["sum_received"]
gb = r["bytes"] / 1e9
ticks = float(ticks)
server = (float(s1) - float(s0)) / ticks
client = (float(c1) - float(c0)) / ticks
print(f"{name:<24} {r['bits_per_second'] / 1e9:10.3f} {server / gb:22.2f} {client / gb:22.2f}")
EOF
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
