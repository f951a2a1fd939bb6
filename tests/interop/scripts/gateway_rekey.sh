# Scenario 11: the client never rekeys its ESP SA in time (60 s lifetime, no margin: its own
# rekey would start only when the SA ends), so the gateway must (at 95 %). Pings every
# PING_INTERVAL from the connect until PING_UNTIL seconds after `ipsec up` finished, across
# the gateway's Quick Mode and the end of the first SA.
net_up
install_client
ipsec_start
connect
snapshot connected
# Quick Modes by their first message (strongSwan logs the third as a "request" too): the
# gateway's (parsed here) before the ping, none expected.
result qm_answered_before_ping "$(grep -c 'parsed QUICK_MODE request .*\[ HASH SA' "$OUT/charon.log")"
mark connected
t_up=$(cat "$OUT/markers/ipsec_up")
count=$(awk -v up="$t_up" -v now="$(up)" -v until="${PING_UNTIL:-75}" -v i="${PING_INTERVAL:-0.1}" \
  'BEGIN { n = int((up + until - now) / i); print (n < 100 ? 100 : n) }')
result ping_planned "$count"
result ping_started_after_ipsec_up "$(echo "$(up) $t_up" | awk '{ print $1 - $2 }')"
ping_through "$(sed -n 's/^ppp_peer=//p' "$OUT/result.env" | tail -n1)" "$count" "${PING_INTERVAL:-0.1}" ping
snapshot after_ping
result qm_answered "$(grep -c 'parsed QUICK_MODE request .*\[ HASH SA' "$OUT/charon.log")"
result qm_started "$(grep -c 'generating QUICK_MODE request .*\[ HASH SA' "$OUT/charon.log")"
result rekeys_detected "$(grep -c 'detected rekeying of CHILD_SA' "$OUT/charon.log")"
result child_sa_established "$(grep -c 'CHILD_SA .* established' "$OUT/charon.log")"
# Every CHILD_SA's SPIs as charon logged them (ours _i, the gateway's _o), in order.
result child_sa_spis "$(sed -n 's/.*established with SPIs \([0-9a-f]*\)_i \([0-9a-f]*\)_o.*/\1:\2/p' "$OUT/charon.log" | tr '\n' ' ')"
result ike_deletes_received "$(grep -c 'received DELETE for IKE_SA' "$OUT/charon.log")"
mark pinged
wait_host proceed 120
mark done
