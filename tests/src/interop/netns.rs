//! Network namespaces for the guests and the gateway. Every address lives inside
//! namespaces this module creates (TEST-NET ranges only) and every namespace is deleted on
//! drop, also when a test fails; traffic never reaches the host's own interfaces.
//!
//! Direct topology (`Topology::direct`):
//! ```text
//!  guest0 ─tap0─┐
//!  guest1 ─tap1─┴ br0 198.51.100.1/24   [ns gw: l2tpgw serve]
//! ```
//! NAT topology (`Topology::nat`):
//! ```text
//!  guest0 ─tap0─┐                                   veth
//!  guest1 ─tap1─┴ br0 192.0.2.1/24 [ns nat] up0 198.51.100.2 ──── nat0 198.51.100.1 [ns gw]
//!                 nftables: masquerade out of up0
//! ```

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Result, run};

/// The gateway's address, the one every client connects to.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The NAT namespace's outside address (what the gateway sees as the clients' source).
pub const NAT_OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The inside router of the NAT namespace.
pub const NAT_INSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

static NEXT_NS: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by the test: deleted on drop, after the processes left in it
/// (all started by this test) are killed by PID.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace with a unique name (`l2i-<pid>-<n>-<role>`) and its loopback up.
    pub fn create(role: &str) -> Result<Self> {
        let n = NEXT_NS.fetch_add(1, Ordering::Relaxed);
        let name = format!("l2i-{}-{n}-{role}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns> <prog>`: a command that runs inside the namespace. `ip` execs
    /// the program, so the child's PID is the program's own.
    pub fn command(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(prog);
        cmd
    }

    /// `ip -n <ns> <args>`, checked.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        run(Command::new("ip").args(["-n", &self.name]).args(args)).map(drop)
    }

    /// Runs a shell snippet inside the namespace, checked; returns its stdout.
    pub fn sh(&self, script: &str) -> Result<String> {
        let out = run(self.command("sh").args(["-c", script]))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Adds a tap device (for one guest's NIC) to the namespace, attached to `bridge`.
    pub fn add_tap(&self, tap: &str, bridge: &str) -> Result<()> {
        self.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
        self.ip(&["link", "set", tap, "master", bridge])?;
        self.ip(&["link", "set", tap, "up"])
    }

    /// Adds a bridge with an address and brings it up.
    pub fn add_bridge(&self, bridge: &str, cidr: &str) -> Result<()> {
        self.ip(&["link", "add", bridge, "type", "bridge"])?;
        self.ip(&["addr", "add", cidr, "dev", bridge])?;
        self.ip(&["link", "set", bridge, "up"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Only processes this test started can be in its namespace (qemu, the gateway,
        // helpers); end them by PID before deleting it.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if pid.parse::<u32>().is_ok() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Where one guest's NIC is plugged in and what address it uses.
#[derive(Debug, Clone)]
pub struct GuestLink {
    /// Name of the namespace holding the guest's tap device (qemu runs there).
    pub netns: String,
    /// The tap device's name inside that namespace.
    pub tap: String,
    /// The guest's address on its link.
    pub addr: Ipv4Addr,
    /// The link's prefix length.
    pub prefix: u8,
    /// The guest's default router (the gateway itself, or the NAT namespace).
    pub router: Ipv4Addr,
    /// The NIC's MAC address.
    pub mac: String,
}

/// The namespaces of one scenario. Dropping it deletes them all.
#[derive(Debug)]
pub struct Topology {
    /// Guests' links, one per guest, in order.
    pub guests: Vec<GuestLink>,
    /// Whether the guests sit behind the masquerading namespace.
    pub behind_nat: bool,
    // Field order is drop order: the NAT namespace (with the guests' taps) goes first.
    nat: Option<Netns>,
    /// The namespace where the gateway runs, with [`SERVER`] on one of its links.
    pub gateway: Netns,
}

impl Topology {
    /// `guests` guests on one link with the gateway (no NAT).
    pub fn direct(guests: u8) -> Result<Self> {
        let gateway = Netns::create("gw")?;
        gateway.add_bridge("br0", &format!("{SERVER}/24"))?;
        let mut links = Vec::new();
        for i in 0..guests {
            let tap = format!("tap{i}");
            gateway.add_tap(&tap, "br0")?;
            links.push(GuestLink {
                netns: gateway.name().to_owned(),
                tap,
                addr: Ipv4Addr::new(198, 51, 100, 10 + i),
                prefix: 24,
                router: SERVER,
                mac: format!("52:54:00:51:00:{:02x}", 0x10 + i),
            });
        }
        Ok(Self {
            guests: links,
            behind_nat: false,
            nat: None,
            gateway,
        })
    }

    /// `guests` guests behind a namespace that masquerades them (nftables) toward the
    /// gateway: the client must use NAT-T (UDP 4500) and the gateway sees one address.
    pub fn nat(guests: u8) -> Result<Self> {
        let gateway = Netns::create("gw")?;
        let nat = Netns::create("nat")?;
        run(Command::new("ip").args([
            "-n",
            nat.name(),
            "link",
            "add",
            "up0",
            "type",
            "veth",
            "peer",
            "name",
            "nat0",
            "netns",
            gateway.name(),
        ]))?;
        gateway.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "nat0"])?;
        gateway.ip(&["link", "set", "nat0", "up"])?;
        nat.ip(&["addr", "add", &format!("{NAT_OUTSIDE}/24"), "dev", "up0"])?;
        nat.ip(&["link", "set", "up0", "up"])?;
        nat.add_bridge("br0", &format!("{NAT_INSIDE}/24"))?;
        nat.sh("sysctl -qw net.ipv4.ip_forward=1 && nft -f - <<'EOF'\n\
             table ip interop_nat {\n\
               chain postrouting {\n\
                 type nat hook postrouting priority srcnat; policy accept;\n\
                 oifname \"up0\" masquerade\n\
               }\n\
             }\n\
             EOF")?;
        let mut links = Vec::new();
        for i in 0..guests {
            let tap = format!("tap{i}");
            nat.add_tap(&tap, "br0")?;
            links.push(GuestLink {
                netns: nat.name().to_owned(),
                tap,
                addr: Ipv4Addr::new(192, 0, 2, 10 + i),
                prefix: 24,
                router: NAT_INSIDE,
                mac: format!("52:54:00:02:00:{:02x}", 0x10 + i),
            });
        }
        Ok(Self {
            guests: links,
            behind_nat: true,
            nat: Some(nat),
            gateway,
        })
    }

    /// The address the gateway sees a guest's packets come from.
    pub fn outer_source(&self, guest: usize) -> Option<Ipv4Addr> {
        if self.behind_nat {
            Some(NAT_OUTSIDE)
        } else {
            self.guests.get(guest).map(|g| g.addr)
        }
    }

    /// The NAT namespace, if any.
    pub fn nat_ns(&self) -> Option<&Netns> {
        self.nat.as_ref()
    }
}
