//! One qemu guest: the cached image, one virtio NIC on a tap device in a test namespace,
//! the 9p control share, a virtio RNG (charon wants entropy early) and the serial console
//! written to a file. TCG by default: `/dev/kvm` exists on our machines but hangs a stock
//! Debian kernel; `L2TPGW_INTEROP_ACCEL=kvm` opts in where KVM is known to work.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::guest::GuestImage;
use super::netns::GuestLink;
use super::share::Share;
use super::{OwnedChild, Result, now, read_for_report};
use crate::harness_err;

/// Guest memory in MiB: the rootfs lives in RAM (about 70 MB) next to the kernel.
const MEMORY_MB: u32 = 512;

/// A running (or finished) guest, killed by PID when dropped.
#[derive(Debug)]
pub struct Vm {
    /// The guest's name in messages.
    pub name: String,
    child: OwnedChild,
    console: PathBuf,
    started: Instant,
}

impl Vm {
    /// Boots `image` with its NIC on `link` and `share` as `/ctl`. The guest runs the
    /// share's `run.sh` and powers itself off afterwards.
    pub fn boot(name: &str, image: &GuestImage, link: &GuestLink, share: &Share) -> Result<Self> {
        let console = share.dir().join("console.log");
        let accel = std::env::var("L2TPGW_INTEROP_ACCEL").unwrap_or_else(|_| "tcg".to_owned());
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &link.netns, "qemu-system-x86_64"])
            .args([
                "-accel",
                &accel,
                "-cpu",
                "max",
                "-smp",
                "1",
                "-m",
                &MEMORY_MB.to_string(),
            ])
            .args(["-nodefaults", "-display", "none", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-kernel")
            .arg(&image.kernel)
            .arg("-initrd")
            .arg(&image.initrd)
            .args(["-append", "console=ttyS0 panic=-1 quiet"])
            .arg("-netdev")
            .arg(format!(
                "tap,id=n0,ifname={},script=no,downscript=no",
                link.tap
            ))
            .arg("-device")
            .arg(format!(
                "virtio-net-pci,netdev=n0,mac={},romfile=",
                link.mac
            ))
            .arg("-virtfs")
            .arg(format!(
                "local,path={},mount_tag=ctl,security_model=none,id=ctl",
                share.dir().display()
            ))
            .args(["-device", "virtio-rng-pci"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(share.dir().join("qemu.stderr"))?);
        let child = cmd
            .spawn()
            .map_err(|e| harness_err!("cannot start qemu: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            child: OwnedChild::new(format!("qemu {name}"), child),
            console,
            started: now(),
        })
    }

    /// Whether qemu is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_exit_code().is_none()
    }

    /// Waits up to `timeout` for the guest to power itself off; returns qemu's exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        self.child.wait_timeout(timeout)
    }

    /// Kills the guest at once, without any goodbye from its client (SIGKILL to qemu).
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Time since qemu was started.
    pub fn uptime(&self) -> Duration {
        now() - self.started
    }

    /// The serial console so far (kernel messages and `/init`'s output), and what qemu
    /// itself said on stderr.
    pub fn console(&self) -> String {
        let stderr = self.console.with_file_name("qemu.stderr");
        format!(
            "{}
---- qemu stderr ----
{}",
            read_for_report(&self.console),
            read_for_report(&stderr)
        )
    }
}
