//! The `l2tpgw` binary end to end in network namespaces the tests create (see
//! `lab/mod.rs`): rekeying under a running ping with zero loss, two clients behind one
//! masquerading NAT at the same time, and a client killed without a goodbye cleaned up
//! by the gateway's liveness timers. Each needs root (and ping, nft); each skips with
//! `SKIPPED <test>: <reason>` otherwise. SIGTERM cleanup (no TUN, no nftables table
//! left) is checked in `serve.rs`.

#![allow(clippy::unwrap_used, reason = "test")]

mod lab;

use std::time::Duration;

use lab::Lab;
use nix::sys::signal::Signal;

/// ESP lifetime 10 s (Quick Mode rekeys at about 9 s, the old pair expires at 10 s) and
/// ISAKMP lifetime 20 s (Main Mode redone at about 18 s, the old ISAKMP SA expires at
/// 20 s), while the client pings the gateway's inner address every 2 ms for 25 s (so
/// replies are in flight at every rekey): every request gets its reply, and the status
/// shows new SAs.
#[test]
fn rekey_under_ping_loses_nothing() {
    let Some(mut lab) = Lab::new("rekey_under_ping_loses_nothing", &["ping"]) else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    let socket = lab.serve(&s, "192.0.2.1", "");
    let client = lab.connect(
        "client",
        &c,
        "192.0.2.1",
        "alice",
        &["--esp-lifetime", "10", "--ike-lifetime", "20"],
    );
    assert_eq!(lab.wait_client_up(&c), "10.77.0.2");
    let before = lab.status(&s, &socket);
    let first_spi = before["sessions"][0]["esp"]["inbound_spi"].clone();
    assert!(first_spi.is_string(), "{before}");

    let out = lab.run(
        &c,
        &[
            "ping",
            "-n",
            "-D",
            "-O",
            "-c",
            "12500",
            "-i",
            "0.002",
            "-W",
            "3",
            "10.77.0.1",
        ],
    );
    let (sent, received) = Lab::ping_counts(&out);
    if (sent, received) != (12500, 12500) {
        let text = String::from_utf8_lossy(&out.stdout);
        let lost: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("no answer") || l.contains("packets transmitted"))
            .collect();
        let report = lab.status(&s, &socket);
        panic!("replies lost across rekeys: {lost:#?}\nstatus: {report}");
    }

    let after = lab.status(&s, &socket);
    let sessions = after["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{after}");
    assert_eq!(sessions[0]["user"], "alice");
    assert_ne!(sessions[0]["esp"]["inbound_spi"], first_spi, "{after}");
    let counters = &after["counters"];
    // The first pair, two Quick Mode rekeys at least, and the Main Mode rekey's pair.
    assert!(
        counters["sa_pairs_installed"].as_u64().unwrap() >= 3,
        "{after}"
    );
    assert!(counters["ike_sas_up"].as_u64().unwrap() >= 2, "{after}");
    // Expired pairs are gone: the first (10 s) and the second (about 19 s) at least.
    let alive = counters["esp_inbound_sas"].as_u64().unwrap();
    let installed = counters["sa_pairs_installed"].as_u64().unwrap();
    assert!(alive + 2 <= installed, "{after}");
    assert_eq!(counters["sessions_started"], 1, "{after}");
    lab.assert_running();
    let _ = client;
}

/// Two clients in two namespaces behind a third that masquerades (nftables) both
/// connect from UDP 500/4500 at the same time; the NAT gives them one outer address,
/// and both pass traffic at once.
#[test]
fn two_clients_behind_one_masquerading_nat() {
    let Some(mut lab) = Lab::new("two_clients_behind_one_masquerading_nat", &["ping", "nft"])
    else {
        return;
    };
    let s = lab.namespace("s");
    let n = lab.namespace("n");
    let c1 = lab.namespace("c1");
    let c2 = lab.namespace("c2");
    let (_, outside) = lab.link(&s, "192.0.2.1/24", &n, "192.0.2.2/24");
    lab.link(&n, "10.1.1.1/24", &c1, "10.1.1.2/24");
    lab.link(&n, "10.1.2.1/24", &c2, "10.1.2.2/24");
    lab.ok(&c1, &["ip", "route", "add", "default", "via", "10.1.1.1"]);
    lab.ok(&c2, &["ip", "route", "add", "default", "via", "10.1.2.1"]);
    lab.masquerade(&n, &outside);
    let socket = lab.serve(&s, "192.0.2.1", "");
    lab.connect("client1", &c1, "192.0.2.1", "alice", &["--standard-ports"]);
    lab.connect("client2", &c2, "192.0.2.1", "bob", &["--standard-ports"]);
    let a1 = lab.wait_client_up(&c1);
    let a2 = lab.wait_client_up(&c2);
    assert_ne!(a1, a2);

    // Both ping at the same time.
    let ping = [
        "ping",
        "-n",
        "-q",
        "-c",
        "30",
        "-i",
        "0.05",
        "-W",
        "2",
        "10.77.0.1",
    ];
    let p2 = lab
        .cmd(&c2, &ping)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let p1 = lab.run(&c1, &ping);
    let p2 = p2.wait_with_output().unwrap();
    assert_eq!(Lab::ping_counts(&p1), (30, 30), "client 1");
    assert_eq!(Lab::ping_counts(&p2), (30, 30), "client 2");
    let report = lab.status(&s, &socket);
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{report}");
    let outer: Vec<&str> = sessions
        .iter()
        .map(|s| s["outer"].as_str().unwrap())
        .collect();
    assert!(
        outer.iter().all(|o| o.starts_with("192.0.2.2:")),
        "both behind the NAT's address: {outer:?}"
    );
    assert_ne!(outer[0], outer[1], "the NAT kept them apart by port");
    for s in sessions {
        assert_eq!(
            s["esp"]["udp_encapsulated"], true,
            "NAT-T on 4500: {report}"
        );
        assert!(s["packets_in"].as_u64().unwrap() >= 30, "{report}");
        assert!(s["packets_out"].as_u64().unwrap() >= 30, "{report}");
    }
    let mut users: Vec<&str> = sessions
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "bob"]);
    lab.assert_running();
}

/// A client killed with SIGKILL sends no goodbye; with short liveness timers (DPD 1 s,
/// LCP echo 1 s × 3, L2TP HELLO 2 s) the gateway notices, and the session, its route,
/// its pool address and its SAs are released.
#[test]
fn a_killed_client_is_cleaned_up_by_liveness_timers() {
    killed_client(
        "a_killed_client_is_cleaned_up_by_liveness_timers",
        "[ike]\ndpd_interval_secs = 1\n[ppp]\nlcp_echo_interval_secs = 1\nlcp_echo_failures = 3\n[l2tp]\nhello_interval_secs = 2\n",
    );
}

/// The same without DPD (Windows announces none): LCP echo and L2TP HELLO alone must
/// release everything, the IPsec SAs too. LCP echo ends the PPP session (route and
/// address released) within seconds; the L2TP tunnel ends when HELLO's retransmissions
/// run out (about 25 s), and with it the peer's ISAKMP and ESP SAs.
#[test]
fn a_killed_client_without_dpd_is_cleaned_up() {
    killed_client(
        "a_killed_client_without_dpd_is_cleaned_up",
        "[ike]\ndpd_interval_secs = 0\n[ppp]\nlcp_echo_interval_secs = 1\nlcp_echo_failures = 3\n[l2tp]\nhello_interval_secs = 2\n",
    );
}

fn killed_client(test: &'static str, config: &str) {
    let Some(mut lab) = Lab::new(test, &["ping"]) else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    let socket = lab.serve(&s, "192.0.2.1", config);
    let client = lab.connect("client", &c, "192.0.2.1", "alice", &[]);
    assert_eq!(lab.wait_client_up(&c), "10.77.0.2");
    assert!(
        lab.run(
            &c,
            &["ping", "-n", "-q", "-c", "3", "-i", "0.2", "10.77.0.1"]
        )
        .status
        .success()
    );
    let report = lab.status(&s, &socket);
    assert_eq!(report["sessions"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["counters"]["pool_in_use"], 1, "{report}");
    assert_eq!(
        report["counters"]["dropped.no_route"].as_u64().unwrap_or(0),
        0,
        "{report}"
    );

    lab.expect_exit(client);
    lab.signal(client, Signal::SIGKILL);
    let _ = lab.proc(client).child.wait();
    let mut last = serde_json::Value::Null;
    let took = lab.wait_for("the session's cleanup", Duration::from_secs(60), |lab| {
        let r = lab.status(&s, &socket);
        let clean = r["sessions"].as_array().is_some_and(Vec::is_empty)
            && r["counters"]["pool_in_use"] == 0
            && r["counters"]["peers"] == 0
            && r["counters"]["esp_inbound_sas"] == 0
            && r["counters"]["l2tp_tunnels"] == 0;
        if !clean && r != last {
            eprintln!("{test}: not clean yet: {r}");
        }
        last = r;
        clean
    });
    eprintln!("a killed client was cleaned up {took:?} after SIGKILL");
    // Its route is gone: a packet for its old address is dropped for want of one.
    let _ = lab.run(&s, &["ping", "-n", "-q", "-c", "1", "-W", "1", "10.77.0.2"]);
    let report = lab.status(&s, &socket);
    assert!(
        report["counters"]["dropped.no_route"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    assert_eq!(report["counters"]["sessions_ended"], 1, "{report}");
    lab.assert_running();
}
