# harness_smoke: boot, bring up eth0, start the stock strongSwan client and let it send
# Main Mode message 1 toward $SERVER, where the host catches it. No gateway needed.
net_up
install_client
ipsec_start
mark charon_up
( ipsec up l2tp >"$OUT/ipsec-up.log" 2>&1 & )
wait_host proceed 120
snapshot end
ipsec stop >/dev/null 2>&1
mark done
