//! Gateway and client in two network namespaces the test creates (joined by a veth
//! pair, addresses only inside them; see `lab/mod.rs`), removed at the end: `connect`
//! brings up its TUN and TCP traffic (iperf3) flows through IKE/ESP/L2TP/PPP to the
//! gateway's inner address. Needs root, `ip` and iperf3; skips with a message otherwise.

#![allow(clippy::unwrap_used, reason = "test")]

mod lab;

use lab::Lab;

#[test]
fn tcp_through_the_tunnel_between_two_namespaces() {
    let Some(mut lab) = Lab::new("tcp_through_the_tunnel_between_two_namespaces", &["iperf3"])
    else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    let socket = lab.serve(&s, "192.0.2.1", "");
    lab.connect("client", &c, "192.0.2.1", "alice", &[]);
    assert_eq!(lab.wait_client_up(&c), "10.77.0.2");

    let report = lab.iperf3(&s, &c, 2);
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    eprintln!(
        "TCP through the tunnel: {:.2} Gbit/s (debug build)",
        bps / 1e9
    );
    assert!(bps > 0.0);

    let report = lab.status(&s, &socket);
    let session = &report["sessions"][0];
    assert_eq!(session["user"], "alice");
    assert!(
        session["bytes_in"].as_u64().unwrap() > 1_000_000,
        "{report}"
    );
}
