//! The `l2tpgw` binary end to end: `serve` and `connect` as processes, in a network
//! namespace private to the test thread (unshared; loopback only), so nothing touches
//! the host. Needs root for the namespace, the TUN and nftables; skips otherwise.

use std::process::{Command, Stdio};
use std::time::Duration;

mod require;

const BIN: &str = env!("CARGO_BIN_EXE_l2tpgw");

/// Kills the server we started (by its PID) if an assertion fails before SIGTERM.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn bad_configuration_exits_2_with_the_reason() {
    let out = Command::new(BIN)
        .args(["serve", "--pool", "10.0.0.0/30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too small"), "{err}");

    let out = Command::new(BIN)
        .args(["status", "--socket", "/nonexistent/l2tpgw.sock"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is `l2tpgw serve` running?"));
}

#[test]
#[allow(clippy::unwrap_used, reason = "test")]
fn serve_and_connect_over_loopback_then_sigterm_cleans_up() {
    if !is_root() {
        require::skip(
            "serve_and_connect_over_loopback_then_sigterm_cleans_up: needs root \
             (network namespace, TUN, nftables)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_owned();
    let result = std::thread::spawn(move || {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            require::skip(&format!(
                "serve_and_connect_over_loopback_then_sigterm_cleans_up: \
                 cannot create a network namespace: {e}"
            ));
            return;
        }
        let ok = Command::new("ip").args(["link", "set", "lo", "up"]).status();
        if !ok.is_ok_and(|s| s.success()) {
            require::skip(
                "serve_and_connect_over_loopback_then_sigterm_cleans_up: the ip command is missing",
            );
            return;
        }
        let nft = Command::new("nft").arg("--version").output().is_ok();
        if !nft {
            require::skip(
                "serve_and_connect_over_loopback_then_sigterm_cleans_up (masquerade part): \
                 the nft command is not installed",
            );
        }
        let socket = dir_path.join("l2tpgw.sock");
        let users = dir_path.join("users");
        std::fs::write(&users, "bob bobpw\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let config = dir_path.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "listen = [\"127.0.0.1\"]\nstatus_socket = {socket:?}\nusers_file = {users:?}\n[network]\ntun_name = \"l2tpgwe2e0\"\nmasquerade = {nft}\n"
            ),
        )
        .unwrap();
        let server = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--psk", "sharedsecret", "--user", "alice:alicepw"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let guard = KillOnDrop(server.id());
        // Wait (bounded) for the status socket: the server is up.
        for _ in 0..200 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(socket.exists(), "the server did not start");

        for (user, password) in [("alice", "alicepw"), ("bob", "bobpw")] {
            let out = Command::new(BIN)
                .args(["connect", "127.0.0.1", "--psk", "sharedsecret", "--user", user, "--password", password])
                .args(["--no-tun", "--once"])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{user}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("connected: inner address 10.77.0."), "{stdout}");
        }
        let bad = Command::new(BIN)
            .args(["connect", "127.0.0.1", "--psk", "sharedsecret", "--user", "alice", "--password", "nope"])
            .args(["--no-tun", "--once"])
            .output()
            .unwrap();
        assert!(!bad.status.success(), "a wrong password does not connect");

        let status = Command::new(BIN).args(["status", "--json", "--socket"]).arg(&socket).output().unwrap();
        assert!(status.status.success());
        let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(report["counters"]["sessions_started"], 3, "{report}");
        assert_eq!(report["counters"]["auth_failures"], 1, "{report}");
        assert_eq!(report["counters"]["ike_sas_up"], 3, "{report}");

        nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(server.id()).unwrap()), nix::sys::signal::Signal::SIGTERM).unwrap();
        let out = server.wait_with_output().unwrap();
        std::mem::forget(guard);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let link = Command::new("ip").args(["link", "show", "l2tpgwe2e0"]).output().unwrap();
        assert!(!link.status.success(), "the TUN device is gone");
        if nft {
            let table = Command::new("nft").args(["list", "table", "ip", "l2tpgw"]).output().unwrap();
            assert!(!table.status.success(), "the nftables table is gone");
        }
        assert!(!socket.exists(), "the status socket is removed");
    })
    .join();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
