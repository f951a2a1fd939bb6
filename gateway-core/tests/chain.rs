//! The whole chain (IKE, ESP, L2TP, PPP, the server's routes and pool) between the server
//! `Core` and `ClientCore`s, over a link that loses 5 % of the datagrams, duplicates
//! 5 % and reorders 5 %, behind NATs, on a virtual clock: every scenario runs for
//! several seeds, and each seed is the same run every time.
//!
//! Traffic is checked packet by packet ([`Pair::traffic`]): every packet the link let
//! through is delivered exactly once and unaltered; the only packets missing are those
//! of which the link (or a NAT mapping that no longer exists) dropped every copy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use gateway_core::client::set_lifetimes;
use gateway_core::testing::{
    LinkConfig, Pair, Placement, Side, TrafficReport, client_config, ipv4_udp, server_config,
};
use gateway_core::{ClientConfig, CoreConfig, Counter, Engine};

/// The seeds every scenario runs with.
const SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];
const NAT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const FAR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn lossy() -> LinkConfig {
    LinkConfig::lossy(5)
}

fn server() -> CoreConfig {
    server_config(&["alice:secret", "bob:pw"], "sharedsecret")
}

/// A client on the private side of a NAT (192.168.1.`host`).
fn behind_nat(user: &str, password: &str, host: u8) -> ClientConfig {
    let private = IpAddr::V4(Ipv4Addr::new(192, 168, 1, host));
    ClientConfig {
        local_ike: SocketAddr::new(private, 40000),
        local_nat_t: SocketAddr::new(private, 40001),
        ..client_config(user, password)
    }
}

/// A pair with alice behind a NAT, connected.
fn connected(seed: u64, config: ClientConfig) -> Pair {
    connected_to(seed, server(), config)
}

fn connected_to(seed: u64, server: CoreConfig, config: ClientConfig) -> Pair {
    let mut pair = Pair::new(seed, server, lossy());
    let nat = pair.add_nat(IpAddr::V4(NAT_IP));
    pair.add_client_core(config, Placement::Nat(nat));
    assert!(
        pair.connect(Duration::from_secs(120)),
        "seed {seed}: not up within 120 s: {:?}",
        pair.clients[0].engine.state()
    );
    pair
}

/// `n` packets each way between client `i` and a host behind the server, one each way
/// every `interval`.
fn traffic(pair: &mut Pair, i: usize, n: usize, interval: Duration) {
    for k in 0..n {
        send_both_ways(pair, i, k);
        pair.run_for(interval);
    }
}

/// Packet `k` from client `i` to a host behind the server, and one back.
fn send_both_ways(pair: &mut Pair, i: usize, k: usize) {
    let ip = pair.inner_address(i);
    let tag = format!("client {i} packet {k}");
    for (side, packet) in [
        (Side::Client(i), ipv4_udp(ip, FAR, tag.as_bytes())),
        (Side::Server, ipv4_udp(FAR, ip, tag.as_bytes())),
    ] {
        assert!(
            pair.send_tun(side, &packet).is_some(),
            "{side:?} refused packet {k} at {:?}: client {:?} {:?}, server {:?}",
            pair.elapsed(),
            pair.clients[i].engine.state(),
            pair.clients[i].engine.status(pair.now).counters,
            pair.server.status(pair.now).counters
        );
    }
}

/// The link drains; every packet was delivered once and unaltered unless the link lost
/// every copy of it.
fn assert_clean(pair: &mut Pair, seed: u64) -> TrafficReport {
    assert!(
        pair.settle(Duration::from_secs(5)),
        "seed {seed}: the link does not drain"
    );
    let report = pair.traffic();
    assert!(
        report.problems.is_empty(),
        "seed {seed}: {} problems, the first: {:#?}",
        report.problems.len(),
        &report.problems[..report.problems.len().min(5)]
    );
    assert_eq!(
        report.delivered,
        report.sent - report.lost,
        "seed {seed}: {report:?}"
    );
    report
}

#[test]
fn connects_under_loss_and_gets_an_address() {
    let mut lost = 0;
    for seed in SEEDS {
        let pair = connected(seed, behind_nat("alice", "secret", 2));
        let ip = pair.inner_address(0);
        assert_eq!(ip, Ipv4Addr::new(10, 77, 0, 2), "seed {seed}");
        assert_eq!(pair.server.route(ip), Some(Some("alice")), "seed {seed}");
        assert_eq!(pair.server.pool().in_use(), 1, "seed {seed}");
        let status = pair.server.status(pair.now);
        assert_eq!(status.sessions.len(), 1, "seed {seed}");
        assert_eq!(
            status.sessions[0].outer.ip(),
            IpAddr::V4(NAT_IP),
            "seed {seed}"
        );
        assert!(status.sessions[0].esp.as_ref().unwrap().udp_encapsulated);
        let interface = pair.clients[0]
            .interface
            .expect("an interface configuration");
        assert_eq!(interface.address, ip, "seed {seed}");
        lost += pair.link_stats().lost;
    }
    assert!(lost > 0, "the link lost nothing in any seed");
}

#[test]
fn traffic_both_ways_arrives_once_and_intact() {
    let mut totals = TrafficReport::default();
    for seed in SEEDS {
        let mut pair = connected(seed, behind_nat("alice", "secret", 2));
        traffic(&mut pair, 0, 300, Duration::from_millis(10));
        let r = assert_clean(&mut pair, seed);
        assert_eq!(r.sent, 600, "seed {seed}");
        let ip = pair.inner_address(0);
        assert!(
            pair.server_tun.iter().all(|p| p[12..16] == ip.octets()),
            "seed {seed}: the server's TUN got a packet not from the client"
        );
        assert!(
            pair.clients[0].tun.iter().all(|p| p[16..20] == ip.octets()),
            "seed {seed}: the client's TUN got a packet not for it"
        );
        totals.lost += r.lost;
        totals.duplicated += r.duplicated;
    }
    // The link did its part: some packets were lost, some duplicated (and dropped as
    // replays by ESP, or the check above would have failed).
    assert!(totals.lost > 0 && totals.duplicated > 0, "{totals:?}");
}

#[test]
fn quick_mode_rekeys_with_traffic_flowing() {
    for seed in SEEDS {
        let mut config = behind_nat("alice", "secret", 2);
        // ESP SAs of 30 s (Quick Mode rekeys at 90 %), the ISAKMP SA 1 h.
        set_lifetimes(
            &mut config.profile,
            Some(Duration::from_secs(3600)),
            Some(Duration::from_secs(30)),
        );
        let mut pair = connected(seed, config);
        let ip = pair.inner_address(0);
        let installed = pair.server.counters().get(Counter::SaPairsInstalled);
        // 100 s of traffic, a packet each way every 100 ms: three rekeys or more.
        traffic(&mut pair, 0, 1000, Duration::from_millis(100));
        let rekeys = pair.server.counters().get(Counter::SaPairsInstalled) - installed;
        assert!(rekeys >= 3, "seed {seed}: {rekeys} rekeys");
        assert_clean(&mut pair, seed);
        assert_eq!(
            pair.inner_address(0),
            ip,
            "seed {seed}: the session changed"
        );
        assert_eq!(pair.server.session_count(), 1, "seed {seed}");
        let esp = pair.server.status(pair.now).sessions[0]
            .esp
            .clone()
            .unwrap();
        assert!(
            esp.age_secs < 30,
            "seed {seed}: the newest pair is {} s old",
            esp.age_secs
        );
    }
}

#[test]
fn nat_rebinding_mid_traffic_moves_the_session() {
    for seed in SEEDS {
        let mut pair = connected(seed, behind_nat("alice", "secret", 2));
        let nat_t = pair.clients[0].sockets[1];
        let before = pair.public_address(0, nat_t);
        traffic(&mut pair, 0, 100, Duration::from_millis(10));
        pair.rebind(0);
        let after = pair.public_address(0, nat_t);
        assert_ne!(before, after);
        traffic(&mut pair, 0, 200, Duration::from_millis(10));
        // The server's own messages (DPD, LCP echo, L2TP HELLO) follow too: 100 quiet
        // seconds (three DPD intervals) keep the session, and packets flow after them.
        let ip = pair.inner_address(0);
        pair.run_for(Duration::from_secs(100));
        assert_eq!(pair.server.route(ip), Some(Some("alice")), "seed {seed}");
        traffic(&mut pair, 0, 50, Duration::from_millis(10));
        let r = assert_clean(&mut pair, seed);
        let status = pair.server.status(pair.now);
        assert_eq!(status.sessions.len(), 1, "seed {seed}");
        assert_eq!(status.sessions[0].outer, after, "seed {seed}: {status:?}");
        // What a NAT dropped (server packets to the old port before it saw the new
        // one) is a handful, not the rest of the run.
        let late = pair
            .packets()
            .iter()
            .rev()
            .take(100)
            .filter(|p| p.delivered == 0 && p.lost < p.copies)
            .count();
        assert_eq!(late, 0, "seed {seed}: {r:?}");
        assert!(
            pair.link_stats().nat_dropped < 10,
            "seed {seed}: {:?}",
            pair.link_stats()
        );
    }
}

#[test]
fn a_silent_client_is_cleaned_up_within_the_dpd_timers() {
    for seed in SEEDS {
        let config = server();
        let ike = config.ike.clone();
        let mut pair = connected_to(seed, config, behind_nat("alice", "secret", 2));
        traffic(&mut pair, 0, 20, Duration::from_millis(10));
        assert_clean(&mut pair, seed);
        let ip = pair.inner_address(0);
        let interval = ike.dpd_interval.expect("DPD is on");
        // R-U-THERE after `interval` of silence, then every `interval` until
        // `dpd_max_unanswered` went unanswered; one interval of slack.
        let bound = interval * (ike.dpd_max_unanswered + 2);
        let start = pair.now;
        pair.cut(0, true);
        let cleaned = pair.drive_until(bound, |p| {
            p.server.status(p.now).counters["peers"] == 0
                && p.server.session_count() == 0
                && p.server.pool().in_use() == 0
        });
        let took = pair.now - start;
        assert!(
            cleaned,
            "seed {seed}: after {took:?} the server still holds {:?}",
            pair.server.status(pair.now).counters
        );
        assert_eq!(pair.server.route(ip), None, "seed {seed}");
        assert_eq!(
            pair.server.status(pair.now).counters["ike_sas"],
            0,
            "seed {seed}"
        );
        assert_eq!(pair.server.status(pair.now).counters["esp_inbound_sas"], 0);
        assert!(
            pair.send_tun(Side::Server, &ipv4_udp(FAR, ip, b"late"))
                .is_none(),
            "seed {seed}: the server still routes to the dead client"
        );
    }
}

#[test]
fn two_clients_behind_one_nat_each_get_their_own_session() {
    for seed in SEEDS {
        let mut pair = Pair::new(seed, server(), lossy());
        let nat = pair.add_nat(IpAddr::V4(NAT_IP));
        pair.add_client_core(behind_nat("alice", "secret", 2), Placement::Nat(nat));
        pair.add_client_core(behind_nat("bob", "pw", 3), Placement::Nat(nat));
        assert!(
            pair.connect(Duration::from_secs(120)),
            "seed {seed}: not both up"
        );
        let (a, b) = (pair.inner_address(0), pair.inner_address(1));
        assert_ne!(a, b, "seed {seed}");
        assert_eq!(pair.server.route(a), Some(Some("alice")), "seed {seed}");
        assert_eq!(pair.server.route(b), Some(Some("bob")), "seed {seed}");
        let status = pair.server.status(pair.now);
        assert_eq!(status.sessions.len(), 2, "seed {seed}");
        let outer: Vec<SocketAddr> = status.sessions.iter().map(|s| s.outer).collect();
        assert!(
            outer.iter().all(|o| o.ip() == IpAddr::V4(NAT_IP)),
            "{outer:?}"
        );
        assert_ne!(outer[0].port(), outer[1].port(), "seed {seed}");
        for k in 0..150 {
            send_both_ways(&mut pair, 0, k);
            send_both_ways(&mut pair, 1, k);
            pair.run_for(Duration::from_millis(10));
        }
        assert_clean(&mut pair, seed);
        for (i, ip) in [(0, a), (1, b)] {
            assert!(
                pair.clients[i].tun.iter().all(|p| p[16..20] == ip.octets()),
                "seed {seed}: client {i} got another's packet"
            );
            assert!(!pair.clients[i].tun.is_empty());
        }
        let from = |ip: Ipv4Addr| {
            pair.server_tun
                .iter()
                .filter(|p| p[12..16] == ip.octets())
                .count()
        };
        assert_eq!(from(a) + from(b), pair.server_tun.len());
        assert!(from(a) > 100 && from(b) > 100, "seed {seed}");
    }
}

/// The same seed is the same run: the link does the same to every flow, and the
/// engines reach the same state (the cores keep peers in hash maps; the link does not
/// depend on their order).
#[test]
fn a_seed_is_the_same_run_every_time() {
    let run = |seed: u64| {
        let mut pair = Pair::new(seed, server(), lossy());
        let nat = pair.add_nat(IpAddr::V4(NAT_IP));
        pair.add_client_core(behind_nat("alice", "secret", 2), Placement::Nat(nat));
        pair.add_client_core(behind_nat("bob", "pw", 3), Placement::Nat(nat));
        assert!(pair.connect(Duration::from_secs(120)));
        traffic(&mut pair, 0, 50, Duration::from_millis(10));
        traffic(&mut pair, 1, 50, Duration::from_millis(10));
        pair.settle(Duration::from_secs(5));
        let fates: Vec<(u32, u32, u32)> = pair
            .packets()
            .iter()
            .map(|p| (p.copies, p.lost, p.delivered))
            .collect();
        (
            pair.link_stats(),
            fates,
            pair.elapsed(),
            pair.server_tun.clone(),
        )
    };
    for seed in [1, 2] {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
    assert_ne!(run(1).0, run(2).0, "two seeds, one run");
}
