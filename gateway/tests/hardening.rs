//! `l2tpgw serve` on the local machine (issue 14, "Local"): secret files others can read
//! are refused at start with the file and the fix named, and once set up the process
//! keeps no capability it does not need (read from `/proc/<pid>/status`), while SIGHUP
//! reload and SIGTERM shutdown (nftables table removed) still work. The capability
//! tests run `serve` in network namespaces of the lab (`lab/mod.rs`) and need root and
//! nft; they skip otherwise, and fail under `L2TPGW_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod lab;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lab::{BIN, Lab};
use nix::sys::signal::Signal;

/// Runs `serve` with `args` and waits (bounded) for it to exit; a server that starts
/// instead is killed and the test fails. Returns the exit code and stderr.
fn serve_must_exit(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return (
                status.code(),
                std::fs::read_to_string(dir.join("stderr")).unwrap(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "serve {args:?} did not exit: {}",
        std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
    );
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// psk_file, the users file, a config file with an inline psk and a certificate key,
/// each readable by others: `serve` exits 2 before opening anything, naming the file
/// and `chmod 600 FILE`.
#[test]
fn serve_refuses_secret_files_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base.toml");
    std::fs::write(
        &base,
        format!(
            "listen = [\"127.0.0.1\"]\nstatus_socket = {:?}\n[network]\ntun_name = \"l2tpgwh0\"\n",
            d.join("sock")
        ),
    )
    .unwrap();
    let psk = d.join("psk");
    std::fs::write(&psk, "file-psk\n").unwrap();
    let users = d.join("users");
    std::fs::write(&users, "bob bobpw\n").unwrap();
    let inline = d.join("inline.toml");
    std::fs::write(
        &inline,
        format!(
            "psk = \"inline-psk\"\n{}",
            std::fs::read_to_string(&base).unwrap()
        ),
    )
    .unwrap();
    let fixtures = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ike/tests/fixtures"
    ));
    let key = d.join("server-rsa.key");
    std::fs::copy(fixtures.join("server-rsa.key"), &key).unwrap();
    let certs = d.join("certs.toml");
    std::fs::write(
        &certs,
        format!(
            "{}[certificates]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
            std::fs::read_to_string(&base).unwrap(),
            fixtures.join("ca.pem"),
            fixtures.join("server-rsa.pem"),
            key
        ),
    )
    .unwrap();
    for f in [&psk, &users, &inline, &key] {
        chmod(f, 0o644);
    }
    let base_s = base.to_str().unwrap();
    let cases: [(Vec<&str>, &Path); 4] = [
        (
            vec!["--config", base_s, "--psk-file", psk.to_str().unwrap()],
            &psk,
        ),
        (
            vec![
                "--config",
                base_s,
                "--psk",
                "x",
                "--users-file",
                users.to_str().unwrap(),
            ],
            &users,
        ),
        (vec!["--config", inline.to_str().unwrap()], &inline),
        (
            vec!["--config", certs.to_str().unwrap(), "--psk", "x"],
            &key,
        ),
    ];
    for (args, file) in &cases {
        let (code, stderr) = serve_must_exit(d, args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("chmod 600 {}", file.display())),
            "{args:?}: {stderr}"
        );
    }
}

/// The status line `field` (`CapEff`, `NoNewPrivs`, ...) of `/proc/<pid>/status` or of
/// one of its threads.
fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_owned()
}

/// The capability sets of process `pid` (and every one of its threads: capabilities
/// belong to threads) are `expected` (CapPrm, CapEff, CapBnd; a hex mask), its
/// inheritable and ambient sets empty, and no_new_privs set.
fn assert_capabilities(pid: u32, expected: u64) {
    let want = format!("{expected:016x}");
    let mut tasks = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        for field in ["CapPrm", "CapEff", "CapBnd"] {
            assert_eq!(status_field(&status, field), want, "{field}:\n{status}");
        }
        for field in ["CapInh", "CapAmb"] {
            assert_eq!(status_field(&status, field), "0000000000000000", "{field}");
        }
        assert_eq!(status_field(&status, "NoNewPrivs"), "1", "{status}");
        tasks += 1;
    }
    assert!(tasks >= 1);
}

/// The server's log (the lab writes `<name>.log`) contains `needle`, waited for.
fn wait_log(lab: &mut Lab, needle: &str) {
    let log = lab.dir().join("server.log");
    lab.wait_for(needle, Duration::from_secs(10), |_| {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains(needle))
    });
}

/// `connect --no-tun --once` from `ns` as `user` (password `<user>pw`): whether it got
/// an inner address.
fn connects(lab: &Lab, ns: &str, user: &str) -> bool {
    let password = format!("{user}pw");
    let out = lab.run(
        ns,
        &[
            BIN,
            "connect",
            "192.0.2.1",
            "--psk",
            "sharedsecret",
            "--user",
            user,
            "--password",
            &password,
            "--no-tun",
            "--once",
        ],
    );
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("connected")
}

/// With `masquerade = true`: after setup the server holds CAP_NET_ADMIN only (effective,
/// permitted and bounding; bit 12), nothing inheritable or ambient, no_new_privs set.
/// SIGHUP still reloads the users file (and refuses it once others can read it, keeping
/// the users it had), clients still connect, and SIGTERM still removes the nftables
/// table and the TUN device, exit status 0.
#[test]
fn capabilities_dropped_after_setup_and_reload_and_shutdown_still_work() {
    let Some(mut lab) = Lab::new(
        "capabilities_dropped_after_setup_and_reload_and_shutdown_still_work",
        &["nft"],
    ) else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    let users = lab.dir().join("users");
    std::fs::write(&users, "carol carolpw\n").unwrap();
    chmod(&users, 0o600);
    let socket = lab.serve(
        &s,
        "192.0.2.1",
        &format!("users_file = {users:?}\n[network]\nmasquerade = true\n"),
    );
    wait_log(&mut lab, "capabilities dropped");
    let pid = lab.proc(0).child.id();
    assert_capabilities(pid, 1 << 12);
    assert!(
        lab.run(&s, &["nft", "list", "table", "ip", "l2tpgw"])
            .status
            .success(),
        "the masquerade table is installed"
    );
    assert!(connects(&lab, &c, "carol"));

    // SIGHUP: the new users file is read without any capability.
    std::fs::write(&users, "dave davepw\n").unwrap();
    lab.signal(0, Signal::SIGHUP);
    wait_log(&mut lab, "SIGHUP: reloaded");
    assert!(connects(&lab, &c, "dave"));
    // Made readable by others: refused, the users loaded before stay.
    std::fs::write(&users, "erin erinpw\n").unwrap();
    chmod(&users, 0o644);
    lab.signal(0, Signal::SIGHUP);
    wait_log(&mut lab, "keeping the users loaded before");
    let log = std::fs::read_to_string(lab.dir().join("server.log")).unwrap();
    assert!(log.contains("chmod 600"), "{log}");
    assert!(connects(&lab, &c, "dave"));
    assert!(!connects(&lab, &c, "erin"));
    let _ = lab.status(&s, &socket);

    // SIGTERM: the goodbye, the table and the TUN removed, exit 0.
    lab.expect_exit(0);
    lab.signal(0, Signal::SIGTERM);
    let status = lab.proc(0).child.wait().unwrap();
    let log = std::fs::read_to_string(lab.dir().join("server.log")).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("removing the nftables table"), "{log}");
    assert!(
        !lab.run(&s, &["nft", "list", "table", "ip", "l2tpgw"])
            .status
            .success(),
        "the nftables table is gone"
    );
    assert!(
        !lab.run(&s, &["ip", "link", "show", "l2tpgw0"])
            .status
            .success(),
        "the TUN device is gone"
    );
    assert!(!socket.exists(), "the status socket is removed");
}

/// Without masquerade nothing is needed at exit: no capability is left in any set.
#[test]
fn capabilities_all_dropped_without_masquerade() {
    let Some(mut lab) = Lab::new("capabilities_all_dropped_without_masquerade", &[]) else {
        return;
    };
    let s = lab.namespace("s");
    let c = lab.namespace("c");
    lab.link(&s, "192.0.2.1/24", &c, "192.0.2.2/24");
    let socket = lab.serve(&s, "192.0.2.1", "");
    wait_log(&mut lab, "capabilities dropped");
    let pid = lab.proc(0).child.id();
    assert_capabilities(pid, 0);
    assert!(connects(&lab, &c, "alice"));
    lab.expect_exit(0);
    lab.signal(0, Signal::SIGTERM);
    let status = lab.proc(0).child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!socket.exists(), "the status socket is removed");
}
