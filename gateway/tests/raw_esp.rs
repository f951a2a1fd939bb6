//! Raw ESP (IP protocol 50) end to end in network namespaces the tests create (see
//! `lab/mod.rs`): a gateway with `force_encapsulation = false` and `raw_esp = true`, a
//! client with no NAT in between that carries ping and TCP over raw ESP (the status says
//! so, and an nftables counter in the gateway's namespace counts protocol 50 and no UDP
//! 4500), the same over IPv6, and a client behind a masquerading NAT that still gets UDP
//! 4500. Needs root,
//! ping, nft and iperf3; skips with `SKIPPED <test>: <reason>` otherwise.

#![allow(clippy::unwrap_used, reason = "test")]

mod lab;

use lab::Lab;

const RAW_ESP: &str = "[ike]\nforce_encapsulation = false\nraw_esp = true\n";

/// Counts IP protocol 50 and UDP 4500 arriving in `ns`, IPv4 and IPv6 (a table of the
/// test's own).
fn count_esp(lab: &Lab, ns: &str) {
    let rules = lab.dir().join(format!("probe-{ns}.nft"));
    std::fs::write(
        &rules,
        "table inet l2tpgw_probe {\n  chain input {\n    type filter hook input priority -10;\n    \
         meta l4proto esp counter\n    udp dport 4500 counter\n  }\n}\n",
    )
    .unwrap();
    lab.ok(ns, &["nft", "-f", rules.to_str().unwrap()]);
}

/// (packets of IP protocol 50, packets to UDP 4500) counted by [`count_esp`].
fn esp_counts(lab: &Lab, ns: &str) -> (u64, u64) {
    let out = lab.run(ns, &["nft", "list", "table", "inet", "l2tpgw_probe"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let packets = |needle: &str| -> u64 {
        text.lines()
            .find(|l| l.contains(needle))
            .and_then(|l| {
                l.split_whitespace()
                    .skip_while(|w| *w != "packets")
                    .nth(1)
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or_else(|| panic!("no counter for {needle:?} in:\n{text}"))
    };
    (packets("l4proto esp"), packets("udp dport 4500"))
}

#[test]
fn a_client_without_nat_uses_raw_esp() {
    let Some(mut lab) = Lab::new(
        "a_client_without_nat_uses_raw_esp",
        &["ping", "nft", "iperf3"],
    ) else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    count_esp(&lab, &s);
    let socket = lab.serve(&s, "192.0.2.1", RAW_ESP);
    lab.connect("client", &c, "192.0.2.1", "alice", &["--standard-ports"]);
    assert_eq!(lab.wait_client_up(&c), "10.77.0.2");

    assert_eq!(ping_gateway(&lab, &c, 50), (50, 50), "ping over raw ESP");

    let report = lab.iperf3(&s, &c, 1);
    let bytes = report["end"]["sum_received"]["bytes"].as_u64().unwrap();
    assert!(bytes > 100_000, "{report}");

    let status = lab.status(&s, &socket);
    let session = &status["sessions"][0];
    assert_eq!(session["user"], "alice", "{status}");
    assert_eq!(session["esp"]["udp_encapsulated"], false, "{status}");
    assert_eq!(
        session["outer"], "192.0.2.2:500",
        "IKE stayed on port 500: {status}"
    );
    assert!(
        status["counters"]
            .get("esp_wrong_encapsulation")
            .is_none_or(|v| v == 0),
        "{status}"
    );
    // On the wire: every ESP packet was protocol 50, none came in UDP 4500.
    let (esp, udp4500) = esp_counts(&lab, &s);
    assert!(esp > 100, "protocol 50 packets counted: {esp}");
    assert_eq!(udp4500, 0, "nothing in UDP 4500");
    lab.assert_running();
}

/// The same gateway, a client behind a masquerading NAT: NAT-D shows the NAT, the client
/// floats to 4500 and ESP is UDP-encapsulated.
#[test]
fn a_client_behind_nat_still_gets_udp_4500() {
    let Some(mut lab) = Lab::new("a_client_behind_nat_still_gets_udp_4500", &["ping", "nft"])
    else {
        return;
    };
    let s = lab.namespace("s");
    let n = lab.namespace("n");
    let c = lab.namespace("c");
    let (_, outside) = lab.link(&s, "192.0.2.1/24", &n, "192.0.2.2/24");
    lab.link(&n, "10.1.1.1/24", &c, "10.1.1.2/24");
    lab.ok(&c, &["ip", "route", "add", "default", "via", "10.1.1.1"]);
    lab.masquerade(&n, &outside);
    count_esp(&lab, &s);
    let socket = lab.serve(&s, "192.0.2.1", RAW_ESP);
    lab.connect("client", &c, "192.0.2.1", "alice", &["--standard-ports"]);
    assert_eq!(lab.wait_client_up(&c), "10.77.0.2");
    assert_eq!(ping_gateway(&lab, &c, 20), (20, 20), "ping over UDP 4500");
    let status = lab.status(&s, &socket);
    let session = &status["sessions"][0];
    assert_eq!(session["esp"]["udp_encapsulated"], true, "{status}");
    assert!(
        session["outer"].as_str().unwrap().ends_with(":4500"),
        "{status}"
    );
    let (esp, udp4500) = esp_counts(&lab, &s);
    assert_eq!(esp, 0, "no protocol 50 from behind the NAT");
    assert!(udp4500 > 20, "UDP 4500 packets counted: {udp4500}");
    lab.assert_running();
}

/// The same over IPv6: raw ESP on an IPv6 raw socket (the destination from
/// IPV6_PKTINFO, replies from that address).
#[test]
fn an_ipv6_client_without_nat_uses_raw_esp() {
    let Some(mut lab) = Lab::new("an_ipv6_client_without_nat_uses_raw_esp", &["ping", "nft"])
    else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    let (ds, dc) = lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    lab.ok(
        &s,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8::1/64",
            "dev",
            &ds,
            "nodad",
        ],
    );
    lab.ok(
        &c,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8::2/64",
            "dev",
            &dc,
            "nodad",
        ],
    );
    count_esp(&lab, &s);
    let socket = lab.serve(&s, "2001:db8::1", RAW_ESP);
    lab.connect("client", &c, "2001:db8::1", "alice", &["--standard-ports"]);
    assert_eq!(lab.wait_client_up(&c), "10.77.0.2");
    assert_eq!(
        ping_gateway(&lab, &c, 20),
        (20, 20),
        "ping over IPv6 raw ESP"
    );
    let status = lab.status(&s, &socket);
    let session = &status["sessions"][0];
    assert_eq!(session["esp"]["udp_encapsulated"], false, "{status}");
    assert_eq!(session["outer"], "[2001:db8::2]:500", "{status}");
    let (esp, udp4500) = esp_counts(&lab, &s);
    assert!(esp > 20, "protocol 50 packets counted: {esp}");
    assert_eq!(udp4500, 0, "nothing in UDP 4500");
    lab.assert_running();
}

/// `count` pings from namespace `c` to the gateway's inner address, 10 ms apart:
/// (sent, received).
fn ping_gateway(lab: &Lab, c: &str, count: u32) -> (u64, u64) {
    let count = count.to_string();
    let args = [
        "ping",
        "-n",
        "-c",
        &count,
        "-i",
        "0.01",
        "-W",
        "2",
        "10.77.0.1",
    ];
    Lab::ping_counts(&lab.run(c, &args))
}
