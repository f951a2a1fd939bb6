# Guest-side helpers, sourced by /ctl/run.sh after /ctl/env (the scenario's variables:
# GUEST_ADDR, GUEST_PREFIX, GUEST_ROUTER, SERVER, PPP_AUTH_OK, ...). Results go to
# /ctl/out/result.env as KEY=VALUE, steps reached to /ctl/out/markers/NAME, snapshots of
# the network and IPsec state to /ctl/out/state-NAME.txt. Runs under dash.
OUT=/ctl/out
CONTROL=/var/run/xl2tpd/l2tp-control

up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "[$(up)] $*"; }
result() { echo "$1=$2" >>"$OUT/result.env"; log "result $1=$2"; }
mark() {
  up >"$OUT/markers/.$1"
  mv "$OUT/markers/.$1" "$OUT/markers/$1"
  log "marker $1"
}
snapshot() {
  {
    echo "== ip addr"; ip addr
    echo "== ip route"; ip route
    echo "== ip xfrm state"; ip xfrm state
    echo "== ip xfrm policy"; ip xfrm policy
    echo "== ipsec statusall"; ipsec statusall 2>&1
    echo "== processes"; ps -eo pid,args 2>/dev/null
  } >"$OUT/state-$1.txt" 2>&1
}
fail() {
  log "FAILED: $*"
  result failure "$*"
  snapshot failed
  mark failed
  exit 1
}
# Waits for the host's marker /ctl/in/NAME, at most SECONDS.
wait_host() {
  n=0
  while [ ! -e "/ctl/in/$1" ]; do
    sleep 0.2
    n=$((n + 1))
    [ "$n" -lt $(($2 * 5)) ] || fail "the host never sent '$1' within $2 s"
  done
  log "host says $1"
}
# Waits until the shell condition "$2" holds, at most $1 seconds.
wait_until() {
  n=0
  until eval "$2"; do
    sleep 0.2
    n=$((n + 1))
    [ "$n" -lt $(($1 * 5)) ] || return 1
  done
}

net_up() {
  ip link set eth0 up
  ip addr add "$GUEST_ADDR/$GUEST_PREFIX" dev eth0
  ip route add default via "$GUEST_ROUTER"
  log "eth0 $GUEST_ADDR/$GUEST_PREFIX via $GUEST_ROUTER"
}

install_client() {
  cp /ctl/etc/ipsec.conf /etc/ipsec.conf
  cp /ctl/etc/ipsec.secrets /etc/ipsec.secrets
  chmod 600 /etc/ipsec.secrets
  mkdir -p /etc/xl2tpd /etc/strongswan.d
  cp /ctl/etc/xl2tpd.conf /etc/xl2tpd/xl2tpd.conf
  cp /ctl/etc/options.l2tpd.client /etc/ppp/options.l2tpd.client
  cp /ctl/etc/strongswan-interop.conf /etc/strongswan.d/zz-interop.conf
  # Certificate scenarios: the client's certificate, key and CA.
  if [ -d /ctl/etc/ipsec.d ]; then
    cp -r /ctl/etc/ipsec.d/. /etc/ipsec.d/
    chmod 600 /etc/ipsec.d/private/*
  fi
}

ipsec_start() {
  ipsec start >"$OUT/ipsec-start.log" 2>&1 || fail "ipsec start"
  wait_until 30 'ipsec status >/dev/null 2>&1' || fail "charon did not come up"
  log "charon up"
}

# ipsec up: succeeds only when Main and Quick Mode completed. `ipsec up` itself exits 0
# even when the peer refused (NO_PROPOSAL_CHOSEN), so its output decides. Output in
# ipsec-up.log.
ipsec_up() {
  t0=$(up)
  timeout "${1:-90}" ipsec up l2tp >/tmp/ipsec-up.out 2>&1
  cat /tmp/ipsec-up.out >>"$OUT/ipsec-up.log"
  result ipsec_up_seconds "$(echo "$(up) $t0" | awk '{ print $1 - $2 }')"
  grep -q "established successfully" /tmp/ipsec-up.out
}

xl2tpd_start() {
  mkdir -p /var/run/xl2tpd
  xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /run/xl2tpd.pid -C "$CONTROL" >"$OUT/xl2tpd.log" 2>&1 &
  wait_until 20 '[ -p "$CONTROL" ]' || fail "xl2tpd did not create $CONTROL"
}

l2tp_connect() { echo "c l2tp" >"$CONTROL"; }
l2tp_disconnect() { echo "d l2tp" >"$CONTROL"; }

# Waits for ppp0 to have an IPv4 address; records ppp_local and ppp_peer.
wait_ppp() {
  wait_until "${1:-60}" 'ip -4 -o addr show ppp0 2>/dev/null | grep -q inet' || return 1
  line=$(ip -4 -o addr show ppp0)
  result ppp_local "$(echo "$line" | awk '{ print $4 }')"
  result ppp_peer "$(echo "$line" | awk '{ for (i = 1; i < NF; i++) if ($i == "peer") print $(i + 1) }' | cut -d/ -f1)"
  result ppp_mtu "$(cat /sys/class/net/ppp0/mtu)"
}

# Full client connect: IPsec, then L2TP and PPP. Records timings.
connect() {
  t0=$(up)
  ipsec_up 90 || fail "ipsec up failed (see ipsec-up.log, charon.log)"
  mark ipsec_up
  xl2tpd_start
  l2tp_connect
  wait_ppp 90 || fail "ppp0 got no address (see xl2tpd.log, pppd.log)"
  result connect_seconds "$(echo "$(up) $t0" | awk '{ print $1 - $2 }')"
  grep -q "$PPP_AUTH_OK" "$OUT/pppd.log" && result ppp_auth_ok yes || result ppp_auth_ok no
}

# ping TARGET COUNT INTERVAL NAME: records NAME_loss (percent), NAME_sent, NAME_received.
ping_through() {
  ping -n -c "$2" -i "$3" -W 2 -I ppp0 "$1" >"$OUT/$4.log" 2>&1
  summary=$(grep 'packets transmitted' "$OUT/$4.log")
  result "$4_sent" "$(echo "$summary" | awk '{ print $1 }')"
  result "$4_received" "$(echo "$summary" | awk '{ print $4 }')"
  result "$4_loss" "$(echo "$summary" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')"
}
