//! `serve` drops the capabilities it no longer needs once it is set up: the TUN device
//! is open and addressed, the UDP sockets (and raw ESP sockets) are bound, the nftables
//! table is installed, and the status socket and metrics endpoint listen. From then on
//! the gateway only reads and writes descriptors it already holds.
//!
//! What stays: `CAP_NET_ADMIN`, and only with `masquerade = true`, because at exit the
//! gateway removes its nftables table (`nft delete table ip l2tpgw`, a child process that
//! gets the capability from us) and restores `net.ipv4.ip_forward` (a sysctl write that
//! needs it). Everything else goes from the effective, permitted and inheritable sets and
//! the ambient set; the bounding set is narrowed to the same when the process may change
//! it (`CAP_SETPCAP`, as root); and `no_new_privs` is set, so no later `execve` (not even
//! of a file with capabilities or a set-user-ID file) gains anything.
//!
//! As a non-root user with file capabilities (the container image) there is no
//! `CAP_SETPCAP`, so the bounding set stays as the container runtime set it; with
//! `no_new_privs` it no longer matters: an `execve` can only keep what the process
//! already has.
//!
//! Capabilities belong to threads: the drop applies to the calling thread and the
//! threads it creates later. [`drop_after_setup`] refuses to run when the process has
//! other threads (the gateway runs on one), so that none keeps what the main thread
//! gave up.
//!
//! `connect` keeps its capabilities: it creates its TUN device and sockets again on every
//! reconnect.

use std::io;

use caps::{CapSet, Capability, CapsHashSet};

/// What was dropped and what was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The capabilities still effective and permitted.
    pub kept: Vec<Capability>,
    /// Whether the bounding set was narrowed too (needs `CAP_SETPCAP`).
    pub bounding_narrowed: bool,
}

fn err(step: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("dropping capabilities: {step}: {e}"))
}

/// Drops every capability but `CAP_NET_ADMIN` (kept only when `keep_net_admin`: for
/// the nftables table's removal at exit) from the effective, permitted, inheritable,
/// ambient and (when possible) bounding sets, and sets `no_new_privs`. Refuses when the
/// process has more than one thread.
pub fn drop_after_setup(keep_net_admin: bool) -> io::Result<Dropped> {
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        let n = tasks.count();
        if n > 1 {
            return Err(err(
                "threads",
                format!(
                    "the process has {n} threads, and capabilities belong to each thread; \
                     drop them before any other thread starts"
                ),
            ));
        }
    }
    let mut keep = CapsHashSet::new();
    if keep_net_admin {
        keep.insert(Capability::CAP_NET_ADMIN);
    }
    let permitted = caps::read(None, CapSet::Permitted).map_err(|e| err("read", e))?;
    // Never more than we have (a capability cannot be added to the permitted set).
    let keep: CapsHashSet = keep.intersection(&permitted).copied().collect();

    // The bounding set first, while CAP_SETPCAP is still effective.
    let bounding_narrowed = caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)
        .map_err(|e| err("read", e))?;
    if bounding_narrowed {
        let bounding = caps::read(None, CapSet::Bounding).map_err(|e| err("read", e))?;
        for cap in bounding.difference(&keep) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| err("bounding set", e))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient set", e))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| err("inheritable set", e))?;
    // Effective before permitted: the effective set must stay within the permitted one.
    caps::set(None, CapSet::Effective, &keep).map_err(|e| err("effective set", e))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(|e| err("permitted set", e))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| err("no_new_privs", e))?;

    // Read back: what the kernel holds now is what we meant.
    for set in [CapSet::Effective, CapSet::Permitted] {
        let now = caps::read(None, set).map_err(|e| err("read", e))?;
        if now != keep {
            return Err(err(
                "check",
                format!("{set:?} set is {now:?}, expected {keep:?}"),
            ));
        }
    }
    let mut kept: Vec<Capability> = keep.into_iter().collect();
    kept.sort_by_key(|c| c.index());
    Ok(Dropped {
        kept,
        bounding_narrowed,
    })
}

/// Whether `no_new_privs` is set for this thread (for logs and tests).
pub fn no_new_privs() -> bool {
    nix::sys::prctl::get_no_new_privs().unwrap_or(false)
}
