//! The TUN device: created, addressed, given its MTU and brought up by the gateway
//! (through the `tun` crate); IP packets without any extra header.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use tun::AbstractDevice;

/// A TUN device. Deleted by the kernel when dropped (the gateway created it
/// non-persistent).
pub struct Tun {
    device: tun::AsyncDevice,
    name: String,
}

impl core::fmt::Debug for Tun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
}

/// How to set up the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name (`l2tpgw0`).
    pub name: String,
    /// The gateway's own inner address.
    pub address: Ipv4Addr,
    /// The pool's netmask: the kernel then routes the whole pool into the device.
    pub netmask: Ipv4Addr,
    /// The MTU (PPP MRU minus nothing: the TUN carries the inner packets PPP carries).
    pub mtu: u16,
}

impl Tun {
    /// Creates and brings up the device. Needs CAP_NET_ADMIN; the error says so.
    pub fn create(config: &TunConfig) -> io::Result<Self> {
        let mut c = tun::Configuration::default();
        c.tun_name(&config.name)
            .address(config.address)
            .netmask(config.netmask)
            .mtu(config.mtu)
            .up();
        let device = tun::create_as_async(&c).map_err(|e| {
            io::Error::other(format!(
                "cannot create TUN device {:?} (needs root or CAP_NET_ADMIN and /dev/net/tun): {e}",
                config.name
            ))
        })?;
        let name = device.tun_name().unwrap_or_else(|_| config.name.clone());
        Ok(Self { device, name })
    }

    /// Creates an unaddressed device, up (the client: PPP gives the address later,
    /// applied with [`Self::configure`]).
    pub fn create_unaddressed(name: &str, mtu: u16) -> io::Result<Self> {
        let mut c = tun::Configuration::default();
        c.tun_name(name).mtu(mtu).up();
        let device = tun::create_as_async(&c).map_err(|e| {
            io::Error::other(format!(
                "cannot create TUN device {name:?} (needs root or CAP_NET_ADMIN and /dev/net/tun): {e}"
            ))
        })?;
        let name = device.tun_name().unwrap_or_else(|_| name.to_owned());
        Ok(Self { device, name })
    }

    /// Addresses the device point-to-point (`address` peer `peer`/32) and sets its MTU.
    pub fn configure(&mut self, cfg: &gateway_core::InterfaceConfig) -> io::Result<()> {
        self.device
            .set_address(IpAddr::V4(cfg.address))
            .map_err(io::Error::other)?;
        self.device
            .set_netmask(IpAddr::V4(Ipv4Addr::BROADCAST))
            .map_err(io::Error::other)?;
        self.device
            .set_destination(IpAddr::V4(cfg.peer))
            .map_err(io::Error::other)?;
        self.device.set_mtu(cfg.mtu).map_err(io::Error::other)?;
        self.device.enabled(true).map_err(io::Error::other)
    }

    /// The interface name the kernel gave.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's IPv4 address.
    pub fn address(&self) -> Option<IpAddr> {
        self.device.address().ok()
    }

    /// The current MTU.
    pub fn mtu(&self) -> io::Result<u16> {
        self.device.mtu().map_err(io::Error::other)
    }

    /// Changes the MTU.
    pub fn set_mtu(&mut self, mtu: u16) -> io::Result<()> {
        self.device.set_mtu(mtu).map_err(io::Error::other)
    }

    /// Reads one IP packet.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.device.recv(buf).await
    }

    /// Reads one IP packet if one is queued, without waiting: `WouldBlock` when none is.
    /// The driver drains the device with this after each wake-up (one `epoll` turn
    /// per burst, not per packet).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // The device is non-blocking (`tun` sets O_NONBLOCK for the async wrapper).
        tun::Device::recv(&self.device, buf)
    }

    /// Writes one IP packet.
    pub async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.device.send(packet).await
    }
}
