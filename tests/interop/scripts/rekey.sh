# Scenario 5: connect with short lifetimes, then ping every 200 ms for PING_COUNT pings
# (3 min) across several Quick Mode rekeys and an ISAKMP rekey.
net_up
install_client
ipsec_start
connect
snapshot connected
mark connected
ping_through "$(sed -n 's/^ppp_peer=//p' "$OUT/result.env" | tail -n1)" "${PING_COUNT:-900}" 0.2 ping
snapshot after_ping
result child_sa_established "$(grep -c 'CHILD_SA .* established' "$OUT/charon.log")"
mark pinged
wait_host proceed 120
mark done
