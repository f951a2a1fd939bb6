# Scenario 10: the gateway runs in its container image. Connect, ping the gateway's inner
# address, a short TCP transfer each way (iperf3, 4 MiB) once the host has started the
# server, then the host stops the container (SIGTERM) and says 'stopped': the gateway's
# goodbye must take the tunnel down (pppd ends on LCP Terminate / StopCCN, charon gets the
# DELETE), checked by the host in pppd.log and charon.log.
net_up
install_client
ipsec_start
connect
snapshot connected
mark connected
peer=$(sed -n 's/^ppp_peer=//p' "$OUT/result.env" | tail -n1)
ping_through "$peer" "${PING_COUNT:-10}" 0.2 ping
mark pinged
wait_host iperf_server 60
# iperf3's server takes a moment after one test before it accepts the next (a client that
# comes too early gets its control connection reset): up to three tries each way.
transfer() {
  for try in 1 2 3; do
    iperf3 -c "$peer" -n 4M -f m $2 >"$OUT/iperf-$1.log" 2>&1 && break
    log "iperf3 $1 try $try failed: $(tail -n1 "$OUT/iperf-$1.log")"
    sleep 1
  done
  result "iperf_$1_mbps" "$(awk '/receiver/ { print $7 }' "$OUT/iperf-$1.log")"
}
transfer up ""
transfer down -R
mark transferred
wait_host stopped 120
if wait_until 30 '! ip link show ppp0 >/dev/null 2>&1'; then result ppp_down yes; else result ppp_down no; fi
if wait_until 30 '! ipsec status l2tp 2>/dev/null | grep -q ESTABLISHED'; then result ike_down yes; else result ike_down no; fi
snapshot end
mark done
