# Scenarios 1-4: connect, ping the gateway side through the tunnel, let the host check
# `l2tpgw status`, then disconnect cleanly (or stay up if STAY_UP=1).
net_up
install_client
ipsec_start
connect
snapshot connected
mark connected
ping_through "${PING_TARGET:-$(sed -n 's/^ppp_peer=//p' "$OUT/result.env" | tail -n1)}" "${PING_COUNT:-10}" "${PING_INTERVAL:-0.2}" ping
mark pinged
wait_host proceed 300
if [ "${STAY_UP:-0}" != 1 ]; then
  l2tp_disconnect
  ipsec down l2tp >"$OUT/ipsec-down.log" 2>&1
fi
snapshot end
mark done
