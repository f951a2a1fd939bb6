# Scenario 3, legacy off: the gateway must refuse the client's proposals; ipsec up fails.
net_up
install_client
ipsec_start
if ipsec_up 60; then
  result ipsec_up_result established
else
  result ipsec_up_result failed
fi
snapshot end
mark done
