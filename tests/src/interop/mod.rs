//! The real-client interop harness (issue 7): an unmodified Linux L2TP/IPsec client
//! (Debian bookworm's strongSwan with `ipsec.conf`, xl2tpd and pppd, over the stock kernel's
//! ESP, L2TP and PPP) in a qemu guest, against `l2tpgw serve` in a network namespace.
//!
//! The pieces, each usable alone:
//! * [`guest::GuestImage`]: builds the guest once (kernel from `linux-image-amd64` unpacked
//!   with `dpkg -x`, rootfs from `debootstrap --variant=minbase`, one initramfs) and caches
//!   it outside the repository, keyed by a hash of its recipe.
//! * [`netns::Topology`]: the namespaces, tap devices, veth and the nftables masquerade the
//!   guests and the gateway live in; everything is deleted on drop.
//! * [`share::Share`]: the 9p directory a guest mounts at `/ctl`: the scenario's scripts and
//!   configs go in, logs, results and markers come out.
//! * [`vm::Vm`]: one qemu process (TCG unless told otherwise), killed by PID on drop.
//! * [`client::ClientConfig`]: the client's config files rendered from the templates in
//!   `tests/interop/client/`.
//! * [`gateway`]: builds `l2tpgw`, decides whether it can serve yet, runs it in a namespace.
//! * [`container`]: the same gateway in its container image, run with podman (issue 9).
//! * [`isakmp`]: an independent decoder for what the client puts on the wire.
//!
//! Nothing here is sans-IO: it drives real processes, so it reads the wall clock through
//! [`now`], the one place allowed to.

pub mod client;
pub mod container;
pub mod gateway;
pub mod guest;
pub mod isakmp;
pub mod netns;
pub mod share;
pub mod vm;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The wall clock, for timeouts on real processes and for measuring boot times.
#[expect(
    clippy::disallowed_methods,
    reason = "the interop harness waits on real processes (qemu, the gateway); it is not a protocol engine"
)]
pub fn now() -> Instant {
    Instant::now()
}

/// Polls `ready` every `step` until it returns `Some`, or gives up after `timeout`.
pub fn wait_for<T>(
    timeout: Duration,
    step: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = now() + timeout;
    loop {
        if let Some(v) = ready() {
            return Some(v);
        }
        if now() >= deadline {
            return None;
        }
        std::thread::sleep(step);
    }
}

/// Why an interop test did not run. Printed loudly; never counted as a pass of the
/// scenario's assertions (a skipped test asserts nothing and says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An error of the harness itself (a command that failed, a file that is missing).
#[derive(Debug)]
pub struct HarnessError(pub String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<std::io::Error> for HarnessError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

/// Result type of the harness.
pub type Result<T> = std::result::Result<T, HarnessError>;

/// Shorthand for a [`HarnessError`] with a formatted message.
#[macro_export]
macro_rules! harness_err {
    ($($arg:tt)*) => { $crate::interop::HarnessError(format!($($arg)*)) };
}

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `tests/interop/<rel>`: the harness's checked-in recipe, templates and scripts.
pub fn interop_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(rel)
}

/// Runs `cmd` to completion and returns its output; a non-zero exit is an error that
/// quotes the command line and its stderr.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .map_err(|e| harness_err!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(harness_err!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(out)
}

/// Whether `prog` is on `PATH` (or is an existing path).
pub fn have_program(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(prog).is_file()))
}

/// Whether the test runs as root (needed for namespaces, taps, debootstrap).
pub fn is_root() -> bool {
    // `id -u` rather than libc: the harness has no unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The programs the harness needs on the host; the first missing one is the skip reason.
pub fn check_host() -> std::result::Result<(), Skip> {
    if !is_root() {
        return Err(Skip(
            "not root: the interop suite needs network namespaces, tap devices and debootstrap"
                .into(),
        ));
    }
    for prog in [
        "qemu-system-x86_64",
        "debootstrap",
        "ip",
        "nft",
        "cpio",
        "xz",
        "flock",
        "apt-get",
        "dpkg",
    ] {
        if !have_program(prog) {
            return Err(Skip(format!(
                "{prog} is not installed (scripts/test.sh installs it with apt-get)"
            )));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(Skip(
            "/dev/net/tun is missing: no tap devices for the guests".into(),
        ));
    }
    Ok(())
}

/// A child process that is killed (by its PID, through `Child::kill`) and reaped when
/// dropped, so a failing test leaves no qemu or gateway behind.
#[derive(Debug)]
pub struct OwnedChild {
    /// What it is, for messages.
    pub name: String,
    child: Option<Child>,
}

impl OwnedChild {
    /// Takes ownership of a spawned child.
    pub fn new(name: impl Into<String>, child: Child) -> Self {
        Self {
            name: name.into(),
            child: Some(child),
        }
    }

    /// The child's PID.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it has exited; returns its exit code (or -1 for a signal) once it has.
    pub fn try_exit_code(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(-1)),
            Ok(None) | Err(_) => None,
        }
    }

    /// Waits up to `timeout` for it to exit by itself; returns its exit code.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<i32> {
        wait_for(timeout, Duration::from_millis(100), || self.try_exit_code())
    }

    /// Sends SIGTERM (by PID, through `kill(1)`) and waits up to `grace` before SIGKILL.
    pub fn terminate(&mut self, grace: Duration) -> Option<i32> {
        if let Some(code) = self.try_exit_code() {
            return Some(code);
        }
        if let Some(pid) = self.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if let Some(code) = self.wait_timeout(grace) {
            return Some(code);
        }
        self.kill();
        None
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a file for a failure report: its content, or a note that it is missing.
pub fn read_for_report(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// A 64-bit FNV-1a hash, for cache keys (stable across Rust versions, unlike `Hasher`).
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
