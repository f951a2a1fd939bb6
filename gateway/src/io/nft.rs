//! `masquerade = true`: IPv4 forwarding and NAT for the pool, set up with the `nft`
//! command in a table of our own (`ip l2tpgw`) and removed again on exit.

use std::io::{self, Write};
use std::process::{Command, Stdio};

use gateway_core::pool::Ipv4Cidr;

/// The nftables table the gateway owns.
pub const TABLE: &str = "l2tpgw";

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The ruleset for `pool` behind `tun_name`: NAT for the pool's traffic leaving by any
/// other interface, and forwarding accepted to and from the TUN (established/related
/// only towards it).
pub fn ruleset(pool: Ipv4Cidr, tun_name: &str) -> String {
    format!(
        "table ip {TABLE} {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {pool} oifname != \"{tun_name}\" masquerade\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{tun_name}\" ip saddr {pool} accept\n\
         \t\toifname \"{tun_name}\" ct state established,related accept\n\
         \t}}\n\
         }}\n"
    )
}

/// Installed NAT; removed on drop (and by [`Masquerade::remove`]).
#[derive(Debug)]
pub struct Masquerade {
    previous_forward: Option<String>,
    removed: bool,
}

fn nft(args: &[&str], stdin: Option<&str>) -> io::Result<()> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run nft (install nftables): {e}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// True when the `ip l2tpgw` table exists (for tests and cleanup checks).
pub fn table_exists() -> bool {
    nft(&["list", "table", "ip", TABLE], None).is_ok()
}

impl Masquerade {
    /// Replaces any leftover table, installs the ruleset and turns IPv4 forwarding on
    /// (remembering the old value to restore).
    pub fn install(pool: Ipv4Cidr, tun_name: &str) -> io::Result<Self> {
        let _ = nft(&["delete", "table", "ip", TABLE], None);
        nft(&["-f", "-"], Some(&ruleset(pool, tun_name)))?;
        let previous_forward = std::fs::read_to_string(IP_FORWARD).ok();
        if previous_forward.as_deref().map(str::trim) != Some("1")
            && let Err(e) = std::fs::write(IP_FORWARD, "1\n")
        {
            let _ = nft(&["delete", "table", "ip", TABLE], None);
            return Err(io::Error::new(
                e.kind(),
                format!("cannot enable {IP_FORWARD}: {e}"),
            ));
        }
        Ok(Self {
            previous_forward,
            removed: false,
        })
    }

    /// Removes the table and restores the forwarding setting.
    pub fn remove(&mut self) -> io::Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        if let Some(prev) = &self.previous_forward
            && prev.trim() != "1"
        {
            let _ = std::fs::write(IP_FORWARD, prev);
        }
        nft(&["delete", "table", "ip", TABLE], None)
    }
}

impl Drop for Masquerade {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!("removing the nftables table {TABLE}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_names_pool_and_device() {
        let r = ruleset("10.77.0.0/24".parse().unwrap(), "l2tpgw0");
        assert!(r.starts_with("table ip l2tpgw {"));
        assert!(r.contains("ip saddr 10.77.0.0/24 oifname != \"l2tpgw0\" masquerade"));
        assert!(r.contains("type nat hook postrouting priority srcnat"));
        assert!(r.contains("oifname \"l2tpgw0\" ct state established,related accept"));
    }
}
