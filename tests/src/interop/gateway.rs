//! `l2tpgw serve` under test: built from the workspace (`cargo build -p gateway --release`),
//! run inside the gateway namespace with the scenario's PSK, users and pool, queried with
//! `l2tpgw status`, stopped with SIGTERM.
//!
//! Whether the gateway can serve at all is decided in two steps, so that no scenario can
//! pass without a gateway and none is skipped once one exists:
//! 1. [`serve_supported`]: `l2tpgw serve --help` must exit 0 (today's placeholder binary
//!    exits 2 with "not built yet");
//! 2. [`Gateway::answers_ike`]: a real strongSwan Main Mode message 1 (from the captures,
//!    with a fresh initiator cookie) sent to the running gateway must get a Main Mode
//!    message 2 back with that cookie and an SA payload.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::netns::{SERVER, Topology};
use super::{HarnessError, OwnedChild, Result, Skip, read_for_report, run};

/// The client address pool the scenarios give the gateway (TEST-NET-3).
pub const POOL: &str = "203.0.113.0/24";

/// Builds the gateway binary in release mode and returns its path. Uses the cargo that runs
/// the tests (`$CARGO`) and their target directory. Optimized, but without the workspace's
/// thin LTO and single codegen unit: those made the build take 20 minutes on a loaded
/// 2-core machine, which the CI budget cannot afford for a test fixture (the speed of the
/// gateway is not what these tests measure). `L2TPGW_INTEROP_FULL_RELEASE=1` keeps the
/// workspace's release profile as is.
pub fn build() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target = target_dir();
    // The dev profile by default: `cargo test --workspace` has just built it, so this is
    // nearly free, and pings and handshakes need no optimised build (the crypto
    // dependencies are optimised in dev builds anyway). L2TPGW_INTEROP_RELEASE=1 builds
    // the release profile (for meaningful iperf3 numbers), without LTO unless
    // L2TPGW_INTEROP_FULL_RELEASE=1 is also set.
    let release = std::env::var_os("L2TPGW_INTEROP_RELEASE").is_some();
    let profile_dir = if release { "release" } else { "debug" };
    eprintln!(
        "interop: cargo build -p gateway --bin l2tpgw ({profile_dir}, target dir {})",
        target.display()
    );
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "gateway", "--bin", "l2tpgw", "--target-dir"])
        .arg(&target);
    if release {
        cmd.arg("--release");
        if std::env::var_os("L2TPGW_INTEROP_FULL_RELEASE").is_none() {
            cmd.args([
                "--config",
                "profile.release.lto=false",
                "--config",
                "profile.release.codegen-units=16",
            ]);
        }
    }
    let status = cmd
        .current_dir(super::workspace_root())
        .status()
        .map_err(|e| HarnessError(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(HarnessError(format!(
            "cargo build -p gateway ({profile_dir}) failed ({status})"
        )));
    }
    let bin = target.join(profile_dir).join("l2tpgw");
    if !bin.is_file() {
        return Err(HarnessError(format!(
            "{} missing after the build",
            bin.display()
        )));
    }
    Ok(bin)
}

/// The target directory of this build: `$CARGO_TARGET_DIR`, else the one this test
/// executable was built into (`<target>/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| super::workspace_root().join("target"))
}

/// Step 1: does `l2tpgw serve --help` succeed? If not, the skip reason quotes the binary.
pub fn serve_supported(bin: &Path) -> std::result::Result<(), Skip> {
    match Command::new(bin).args(["serve", "--help"]).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(Skip(format!(
            "`l2tpgw serve --help` exits {} ({}): the gateway cannot serve yet",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) => Err(Skip(format!("cannot run {}: {e}", bin.display()))),
    }
}

/// What the gateway is started with.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The pre-shared key.
    pub psk: String,
    /// Users as (name, password).
    pub users: Vec<(String, String)>,
    /// The client address pool.
    pub pool: String,
    /// Extra settings as TOML (PAP on, legacy algorithms on, ...; see
    /// `tests/interop/gateway/` and the workspace's `gateway.example.toml`), appended to
    /// the config file the harness always passes (which sets the status socket).
    pub config_toml: String,
}

impl GatewayOptions {
    /// One PSK and one user, the pool [`POOL`], no config file.
    pub fn new(psk: &str, user: &str, password: &str) -> Self {
        Self {
            psk: psk.to_owned(),
            users: vec![(user.to_owned(), password.to_owned())],
            pool: POOL.to_owned(),
            config_toml: String::new(),
        }
    }
}

/// A running `l2tpgw serve`, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Gateway {
    bin: PathBuf,
    netns: String,
    log: PathBuf,
    socket: PathBuf,
    child: OwnedChild,
    /// `tcpdump` writing `run_dir/gateway.pcap` when `L2TPGW_INTEROP_PCAP` is set.
    _capture: Option<OwnedChild>,
}

impl Gateway {
    /// Starts `bin serve` in the topology's gateway namespace, listening on [`SERVER`];
    /// its stdout and stderr go to `run_dir/gateway.log` (RUST_LOG=debug unless set).
    pub fn start(
        bin: &Path,
        topology: &Topology,
        opts: &GatewayOptions,
        run_dir: &Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(run_dir)?;
        let log = run_dir.join("gateway.log");
        let mut cmd = topology.gateway.command(bin);
        cmd.args([
            "serve",
            "--listen",
            &SERVER.to_string(),
            "--psk",
            &opts.psk,
            "--pool",
            &opts.pool,
        ]);
        for (user, password) in &opts.users {
            cmd.arg("--user").arg(format!("{user}:{password}"));
        }
        // A status socket of its own: the file system is shared with every other
        // gateway on the machine, only the network is private. Short path (108-byte limit).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = std::env::temp_dir().join(format!("l2i-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let config = run_dir.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "status_socket = {:?}\n{}",
                socket.display().to_string(),
                opts.config_toml
            ),
        )?;
        cmd.arg("--config").arg(config);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "debug");
        }
        // Optional packet capture in the gateway namespace, for reading a failure with
        // the keys from the gateway's debug log (tshark's ESP preferences).
        let capture = if std::env::var_os("L2TPGW_INTEROP_PCAP").is_some() {
            let child = topology
                .gateway
                .command("tcpdump")
                .args(["-i", "any", "-U", "-s", "0", "-w"])
                .arg(run_dir.join("gateway.pcap"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| HarnessError(format!("cannot start tcpdump: {e}")))?;
            Some(OwnedChild::new("tcpdump", child))
        } else {
            None
        };
        let file = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = cmd
            .spawn()
            .map_err(|e| HarnessError(format!("cannot start the gateway: {e}")))?;
        Ok(Self {
            bin: bin.to_path_buf(),
            netns: topology.gateway.name().to_owned(),
            log,
            socket,
            child: OwnedChild::new("l2tpgw serve", child),
            _capture: capture,
        })
    }

    /// Step 2: whether the gateway answers a real Main Mode message 1 with a message 2,
    /// asked by `probe` (the `interop_udp` helper) from inside the gateway namespace.
    /// Retries for up to `within` (the gateway may still be starting).
    pub fn answers_ike(&mut self, probe: &Path, within: Duration) -> Result<bool> {
        let mm1 = super::interop_dir("fixtures/strongswan-5.9.8-main-mode-1.hex");
        let answered = super::wait_for(within, Duration::from_millis(500), || {
            if self.child.try_exit_code().is_some() {
                return Some(false);
            }
            let out = Command::new("ip")
                .args(["netns", "exec", &self.netns])
                .arg(probe)
                .args(["probe", &format!("{SERVER}:500"), "2"])
                .arg(&mm1)
                .output()
                .ok()?;
            out.status.success().then_some(true)
        });
        Ok(answered == Some(true))
    }

    /// `l2tpgw status --json` on this gateway's status socket; its stdout.
    pub fn status(&self) -> Result<String> {
        let out = run(Command::new(&self.bin)
            .args(["status", "--json", "--socket"])
            .arg(&self.socket))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_exit_code().is_none()
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        read_for_report(&self.log)
    }

    /// SIGTERM and wait up to 10 s for a clean exit; returns the exit code if it exited.
    pub fn stop(&mut self) -> Option<i32> {
        self.child.terminate(Duration::from_secs(10))
    }

    /// Whether the gateway namespace still has a route to `addr` (a client's inner
    /// address) — scenario 6 checks it disappears after teardown.
    pub fn has_route_to(&self, addr: Ipv4Addr) -> Result<bool> {
        let out = run(Command::new("ip").args([
            "-n",
            &self.netns,
            "-4",
            "route",
            "show",
            &format!("{addr}/32"),
        ]))?;
        Ok(!out.stdout.is_empty())
    }
}
