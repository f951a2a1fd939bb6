//! Gateway and client in two network namespaces the test creates (joined by a veth
//! pair, addresses only inside them), removed at the end: `connect` brings up its TUN
//! and TCP traffic (iperf3) flows through IKE/ESP/L2TP/PPP to the gateway's inner
//! address. Needs root, `ip` and iperf3; skips with a message otherwise.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_l2tpgw");

/// The namespaces and processes this test made; removed/killed on drop (by PID and by
/// the names it chose).
struct Lab {
    server_ns: String,
    client_ns: String,
    children: Vec<Child>,
}

impl Lab {
    fn exec(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = c.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

fn run(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn tcp_through_the_tunnel_between_two_namespaces() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    if !run(Command::new("iperf3").arg("--version")) {
        eprintln!("skipped: iperf3 is not installed (apt-get install iperf3)");
        return;
    }
    let id = std::process::id();
    let mut lab = Lab {
        server_ns: format!("l2tpgw-t{id}-s"),
        client_ns: format!("l2tpgw-t{id}-c"),
        children: Vec::new(),
    };
    for ns in [&lab.server_ns, &lab.client_ns] {
        if !run(Command::new("ip").args(["netns", "add", ns])) {
            eprintln!("skipped: cannot create network namespaces");
            return;
        }
    }
    let (vs, vc) = (format!("vs{id}"), format!("vc{id}"));
    assert!(run(Command::new("ip").args([
        "link", "add", &vs, "type", "veth", "peer", "name", &vc
    ])));
    assert!(run(Command::new("ip").args([
        "link",
        "set",
        &vs,
        "netns",
        &lab.server_ns
    ])));
    assert!(run(Command::new("ip").args([
        "link",
        "set",
        &vc,
        "netns",
        &lab.client_ns
    ])));
    for (ns, dev, addr) in [
        (&lab.server_ns, &vs, "192.0.2.1/24"),
        (&lab.client_ns, &vc, "192.0.2.2/24"),
    ] {
        assert!(run(
            &mut lab.exec(ns, &["ip", "addr", "add", addr, "dev", dev])
        ));
        assert!(run(&mut lab.exec(ns, &["ip", "link", "set", dev, "up"])));
        assert!(run(&mut lab.exec(ns, &["ip", "link", "set", "lo", "up"])));
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("l2tpgw.sock");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("listen = [\"192.0.2.1\"]\nstatus_socket = {socket:?}\n"),
    )
    .unwrap();
    let server = lab
        .exec(
            &lab.server_ns,
            &[
                BIN,
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--psk",
                "sharedsecret",
                "--user",
                "alice:pw",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(server);
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(socket.exists(), "the gateway did not start");
    let client = lab
        .exec(
            &lab.client_ns,
            &[
                BIN,
                "connect",
                "192.0.2.1",
                "--psk",
                "sharedsecret",
                "--user",
                "alice",
                "--password",
                "pw",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(client);
    // Wait (bounded) until the client's TUN has its address.
    let mut up = false;
    for _ in 0..200 {
        let out = lab
            .exec(
                &lab.client_ns,
                &["ip", "-o", "-4", "addr", "show", "dev", "l2tpgwc0"],
            )
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("10.77.0.2") {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(up, "the client never got its inner address");

    let iperf_server = lab
        .exec(&lab.server_ns, &["iperf3", "-s", "-1", "-B", "10.77.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(iperf_server);
    std::thread::sleep(Duration::from_millis(300));
    let out = lab
        .exec(
            &lab.client_ns,
            &["iperf3", "-c", "10.77.0.1", "-t", "2", "-J"],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "iperf3 through the tunnel failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    eprintln!(
        "TCP through the tunnel: {:.2} Gbit/s (debug build)",
        bps / 1e9
    );
    assert!(bps > 0.0);

    let status = lab
        .exec(
            &lab.server_ns,
            &[
                BIN,
                "status",
                "--json",
                "--socket",
                socket.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let session = &report["sessions"][0];
    assert_eq!(session["user"], "alice");
    assert!(
        session["bytes_in"].as_u64().unwrap() > 1_000_000,
        "{report}"
    );
}
