# Scenario 7: connect, then iperf3 for 10 s each way against the server the host runs in
# the gateway namespace on the PPP peer address. Printed by the host, not asserted.
net_up
install_client
ipsec_start
connect
mark connected
wait_host iperf_server 60
peer=$(sed -n 's/^ppp_peer=//p' "$OUT/result.env" | tail -n1)
iperf3 -c "$peer" -t 10 -f m >"$OUT/iperf-up.log" 2>&1
iperf3 -c "$peer" -t 10 -f m -R >"$OUT/iperf-down.log" 2>&1
result iperf_up_mbps "$(awk '/receiver/ { print $7 }' "$OUT/iperf-up.log")"
result iperf_down_mbps "$(awk '/receiver/ { print $7 }' "$OUT/iperf-down.log")"
mark done
