//! The IPv4 address pool PPP clients get their inner address from.
//!
//! A pool is a CIDR block. Its network and broadcast addresses are never handed out, nor
//! is the gateway's own address (by default the first host, `.1` in a `/24`). Addresses
//! that users have as static addresses are reserved: dynamic allocation skips them and
//! only [`AddressPool::allocate_static`] hands them out.
//!
//! Allocation walks a cursor round the block, so an address released a moment ago is the
//! last to be handed out again: a late packet for a departed client does not reach the
//! next one.

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

/// An IPv4 network in CIDR notation, `10.77.0.0/24`. Host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// Why a CIDR string or pool was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// Not `a.b.c.d/n`.
    Syntax(String),
    /// The prefix length is above 32.
    PrefixTooLong(u8),
    /// The address has bits set below the prefix (`10.77.0.5/24`).
    HostBitsSet(Ipv4Cidr),
    /// The block holds fewer than two client addresses besides the gateway.
    TooSmall(Ipv4Cidr),
    /// The block is larger than a `/16`, which no gateway needs and which would cost
    /// memory for the allocation map.
    TooLarge(Ipv4Cidr),
    /// The gateway or a static address is outside the block or is its network or
    /// broadcast address.
    NotAHost {
        /// The address.
        addr: Ipv4Addr,
        /// The pool.
        pool: Ipv4Cidr,
    },
    /// Two users have the same static address, or a static address is the gateway's.
    Duplicate(Ipv4Addr),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(s) => write!(f, "{s:?} is not an IPv4 CIDR block like 10.77.0.0/24"),
            Self::PrefixTooLong(n) => write!(f, "prefix length /{n} is above /32"),
            Self::HostBitsSet(c) => write!(
                f,
                "{}/{} has host bits set; did you mean {}?",
                c.network,
                c.prefix_len,
                c.normalized()
            ),
            Self::TooSmall(c) => write!(
                f,
                "pool {c} is too small: it needs room for the gateway and at least two clients (/29 or larger)"
            ),
            Self::TooLarge(c) => write!(f, "pool {c} is larger than a /16"),
            Self::NotAHost { addr, pool } => write!(
                f,
                "{addr} is not a host address of pool {pool} (outside it, or its network or broadcast address)"
            ),
            Self::Duplicate(a) => write!(
                f,
                "address {a} is given twice (static addresses and the gateway must differ)"
            ),
        }
    }
}

impl std::error::Error for PoolError {}

impl Ipv4Cidr {
    /// A block; refuses host bits below the prefix.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, PoolError> {
        if prefix_len > 32 {
            return Err(PoolError::PrefixTooLong(prefix_len));
        }
        let cidr = Self {
            network,
            prefix_len,
        };
        if u32::from(network) & !cidr.mask() != 0 {
            return Err(PoolError::HostBitsSet(cidr));
        }
        Ok(cidr)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask as an address (`255.255.255.0`).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }

    fn normalized(&self) -> Self {
        Self {
            network: Ipv4Addr::from(u32::from(self.network) & self.mask()),
            prefix_len: self.prefix_len,
        }
    }

    /// Number of addresses in the block, network and broadcast included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len))
    }

    /// The broadcast (last) address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// True when `addr` is inside the block.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }

    /// True when `addr` is inside the block and is neither its network nor its broadcast
    /// address.
    pub fn is_host(&self, addr: Ipv4Addr) -> bool {
        self.contains(addr) && addr != self.network && addr != self.broadcast()
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| PoolError::Syntax(s.to_owned()))?;
        let network: Ipv4Addr = addr.parse().map_err(|_| PoolError::Syntax(s.to_owned()))?;
        let prefix_len: u8 = len.parse().map_err(|_| PoolError::Syntax(s.to_owned()))?;
        Self::new(network, prefix_len)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The pool has no free address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolExhausted;

impl fmt::Display for PoolExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("address pool exhausted")
    }
}

impl std::error::Error for PoolExhausted {}

/// Why a static address could not be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticError {
    /// Not a host address of this pool (or the gateway's).
    NotInPool(Ipv4Addr),
    /// Another session holds it.
    InUse(Ipv4Addr),
}

impl fmt::Display for StaticError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInPool(a) => {
                write!(f, "static address {a} is not a client address of the pool")
            }
            Self::InUse(a) => write!(f, "static address {a} is in use by another session"),
        }
    }
}

impl std::error::Error for StaticError {}

/// The address pool. See the module documentation.
#[derive(Debug, Clone)]
pub struct AddressPool {
    cidr: Ipv4Cidr,
    gateway: Ipv4Addr,
    /// One bit per address of the block: set when in use.
    used: Vec<u64>,
    /// One bit per address: set when reserved for a static user.
    reserved: Vec<u64>,
    /// Index where the next dynamic search starts.
    cursor: u32,
    in_use: u32,
    dynamic_capacity: u32,
}

impl AddressPool {
    /// A pool over `cidr`, with the gateway at `gateway` (or the first host when `None`)
    /// and `reserved` kept for static users.
    pub fn new(
        cidr: Ipv4Cidr,
        gateway: Option<Ipv4Addr>,
        reserved: impl IntoIterator<Item = Ipv4Addr>,
    ) -> Result<Self, PoolError> {
        if cidr.prefix_len < 16 {
            return Err(PoolError::TooLarge(cidr));
        }
        if cidr.prefix_len > 29 {
            return Err(PoolError::TooSmall(cidr));
        }
        let first_host = Ipv4Addr::from(u32::from(cidr.network) + 1);
        let gateway = gateway.unwrap_or(first_host);
        if !cidr.is_host(gateway) {
            return Err(PoolError::NotAHost {
                addr: gateway,
                pool: cidr,
            });
        }
        let words = usize::try_from(cidr.size().div_ceil(64)).unwrap_or(1024);
        let mut pool = Self {
            cidr,
            gateway,
            used: vec![0; words],
            reserved: vec![0; words],
            cursor: 0,
            in_use: 0,
            dynamic_capacity: 0,
        };
        let hosts = u32::try_from(cidr.size() - 2).unwrap_or(0);
        let mut reserved_count = 0;
        for addr in reserved {
            if !cidr.is_host(addr) {
                return Err(PoolError::NotAHost { addr, pool: cidr });
            }
            if addr == gateway || pool.is_reserved(addr) {
                return Err(PoolError::Duplicate(addr));
            }
            pool.set_bit(Bits::Reserved, addr, true);
            reserved_count += 1;
        }
        pool.dynamic_capacity = hosts.saturating_sub(1 + reserved_count);
        Ok(pool)
    }

    /// The block.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// The gateway's own address inside the block (the PPP local address).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Addresses currently handed out (dynamic and static).
    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    /// How many addresses dynamic allocation can hand out in all.
    pub fn dynamic_capacity(&self) -> u32 {
        self.dynamic_capacity
    }

    /// Hands out a free, unreserved address.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, PoolExhausted> {
        let size = u32::try_from(self.cidr.size()).unwrap_or(u32::MAX);
        let base = u32::from(self.cidr.network);
        for step in 0..size {
            let index = (self.cursor + step) % size;
            let addr = Ipv4Addr::from(base + index);
            if !self.cidr.is_host(addr)
                || addr == self.gateway
                || self.is_reserved(addr)
                || self.is_used(addr)
            {
                continue;
            }
            self.set_bit(Bits::Used, addr, true);
            self.in_use += 1;
            self.cursor = (index + 1) % size;
            return Ok(addr);
        }
        Err(PoolExhausted)
    }

    /// Hands out `addr`, a user's static address (reserved or not, but free).
    pub fn allocate_static(&mut self, addr: Ipv4Addr) -> Result<Ipv4Addr, StaticError> {
        if !self.cidr.is_host(addr) || addr == self.gateway {
            return Err(StaticError::NotInPool(addr));
        }
        if self.is_used(addr) {
            return Err(StaticError::InUse(addr));
        }
        self.set_bit(Bits::Used, addr, true);
        self.in_use += 1;
        Ok(addr)
    }

    /// Returns `addr` to the pool. Releasing an address that is not in use does nothing
    /// and returns false.
    pub fn release(&mut self, addr: Ipv4Addr) -> bool {
        if !self.cidr.contains(addr) || !self.is_used(addr) {
            return false;
        }
        self.set_bit(Bits::Used, addr, false);
        self.in_use -= 1;
        true
    }

    /// True when `addr` is handed out.
    pub fn is_used(&self, addr: Ipv4Addr) -> bool {
        self.bit(Bits::Used, addr)
    }

    /// True when `addr` is reserved for a static user.
    pub fn is_reserved(&self, addr: Ipv4Addr) -> bool {
        self.bit(Bits::Reserved, addr)
    }

    /// Replaces the set of static reservations (after the users file was reloaded).
    /// Addresses in use stay in use; a newly reserved address in dynamic use stays with
    /// its session until released.
    pub fn set_reserved(&mut self, reserved: impl IntoIterator<Item = Ipv4Addr>) {
        self.reserved.iter_mut().for_each(|w| *w = 0);
        let mut count = 0u32;
        for addr in reserved {
            if self.cidr.is_host(addr) && addr != self.gateway && !self.is_reserved(addr) {
                self.set_bit(Bits::Reserved, addr, true);
                count += 1;
            }
        }
        let hosts = u32::try_from(self.cidr.size() - 2).unwrap_or(0);
        self.dynamic_capacity = hosts.saturating_sub(1 + count);
    }

    fn index(&self, addr: Ipv4Addr) -> Option<(usize, u64)> {
        if !self.cidr.contains(addr) {
            return None;
        }
        let i = u32::from(addr) - u32::from(self.cidr.network);
        Some((usize::try_from(i / 64).ok()?, 1u64 << (i % 64)))
    }

    fn bit(&self, which: Bits, addr: Ipv4Addr) -> bool {
        let Some((word, mask)) = self.index(addr) else {
            return false;
        };
        let map = match which {
            Bits::Used => &self.used,
            Bits::Reserved => &self.reserved,
        };
        map.get(word).is_some_and(|w| w & mask != 0)
    }

    fn set_bit(&mut self, which: Bits, addr: Ipv4Addr, on: bool) {
        let Some((word, mask)) = self.index(addr) else {
            return;
        };
        let map = match which {
            Bits::Used => &mut self.used,
            Bits::Reserved => &mut self.reserved,
        };
        if let Some(w) = map.get_mut(word) {
            if on {
                *w |= mask;
            } else {
                *w &= !mask;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Bits {
    Used,
    Reserved,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_cidr_and_refuses_bad_ones() {
        let c: Ipv4Cidr = "10.77.0.0/24".parse().unwrap();
        assert_eq!(c.network(), ip("10.77.0.0"));
        assert_eq!(c.netmask(), ip("255.255.255.0"));
        assert_eq!(c.broadcast(), ip("10.77.0.255"));
        assert_eq!(c.size(), 256);
        assert!(c.is_host(ip("10.77.0.1")));
        assert!(!c.is_host(ip("10.77.0.0")));
        assert!(!c.is_host(ip("10.77.0.255")));
        assert!(!c.contains(ip("10.77.1.1")));
        assert_eq!(c.to_string(), "10.77.0.0/24");

        assert!(matches!(
            "10.77.0.0".parse::<Ipv4Cidr>(),
            Err(PoolError::Syntax(_))
        ));
        assert!(matches!(
            "10.77.0.0/33".parse::<Ipv4Cidr>(),
            Err(PoolError::PrefixTooLong(33))
        ));
        let err = "10.77.0.5/24".parse::<Ipv4Cidr>().unwrap_err();
        assert!(
            err.to_string().contains("did you mean 10.77.0.0/24"),
            "{err}"
        );
        assert!(matches!(
            "fe80::/64".parse::<Ipv4Cidr>(),
            Err(PoolError::Syntax(_))
        ));
    }

    #[test]
    fn hands_out_hosts_but_not_network_broadcast_or_gateway() {
        let mut p = AddressPool::new("192.0.2.0/29".parse().unwrap(), None, []).unwrap();
        assert_eq!(p.gateway(), ip("192.0.2.1"));
        assert_eq!(p.dynamic_capacity(), 5);
        let got: Vec<_> = (0..5).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(
            got,
            [
                "192.0.2.2",
                "192.0.2.3",
                "192.0.2.4",
                "192.0.2.5",
                "192.0.2.6"
            ]
            .map(ip)
        );
        assert_eq!(p.allocate(), Err(PoolExhausted));
        assert_eq!(p.in_use(), 5);
    }

    #[test]
    fn released_address_is_reused_last() {
        let mut p = AddressPool::new("192.0.2.0/29".parse().unwrap(), None, []).unwrap();
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        assert!(p.release(a));
        assert!(!p.release(a), "double release is refused");
        // The cursor moves on: the next three are fresh addresses, then `a` comes back.
        let next: Vec<_> = (0..3).map(|_| p.allocate().unwrap()).collect();
        assert!(!next.contains(&a) && !next.contains(&b));
        assert_eq!(p.allocate().unwrap(), a);
        assert_eq!(p.allocate(), Err(PoolExhausted));
    }

    #[test]
    fn static_reservations_are_skipped_by_dynamic_allocation() {
        let mut p = AddressPool::new(
            "192.0.2.0/29".parse().unwrap(),
            Some(ip("192.0.2.6")),
            [ip("192.0.2.1"), ip("192.0.2.2")],
        )
        .unwrap();
        assert_eq!(p.dynamic_capacity(), 3);
        let dynamic: Vec<_> = (0..3).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(dynamic, ["192.0.2.3", "192.0.2.4", "192.0.2.5"].map(ip));
        assert_eq!(p.allocate(), Err(PoolExhausted));
        assert_eq!(p.allocate_static(ip("192.0.2.2")), Ok(ip("192.0.2.2")));
        assert_eq!(
            p.allocate_static(ip("192.0.2.2")),
            Err(StaticError::InUse(ip("192.0.2.2")))
        );
        assert_eq!(
            p.allocate_static(ip("192.0.2.6")),
            Err(StaticError::NotInPool(ip("192.0.2.6"))),
            "the gateway's address is never a client's"
        );
        assert_eq!(
            p.allocate_static(ip("192.0.2.7")),
            Err(StaticError::NotInPool(ip("192.0.2.7")))
        );
        assert!(p.release(ip("192.0.2.2")));
        p.set_reserved([]);
        assert_eq!(p.dynamic_capacity(), 5);
    }

    #[test]
    fn refuses_bad_pools() {
        let c = |s: &str| s.parse::<Ipv4Cidr>().unwrap();
        assert!(matches!(
            AddressPool::new(c("10.0.0.0/30"), None, []),
            Err(PoolError::TooSmall(_))
        ));
        assert!(matches!(
            AddressPool::new(c("10.0.0.0/8"), None, []),
            Err(PoolError::TooLarge(_))
        ));
        assert!(matches!(
            AddressPool::new(c("10.0.0.0/24"), Some(ip("10.0.0.255")), []),
            Err(PoolError::NotAHost { .. })
        ));
        assert!(matches!(
            AddressPool::new(c("10.0.0.0/24"), None, [ip("10.0.0.1")]),
            Err(PoolError::Duplicate(_))
        ));
        assert!(matches!(
            AddressPool::new(c("10.0.0.0/24"), None, [ip("10.0.1.1")]),
            Err(PoolError::NotAHost { .. })
        ));
    }

    #[test]
    fn a_full_slash_16_allocates_every_host() {
        let mut p = AddressPool::new("10.0.0.0/16".parse().unwrap(), None, []).unwrap();
        let n = p.dynamic_capacity();
        assert_eq!(n, 65536 - 3);
        for _ in 0..n {
            p.allocate().unwrap();
        }
        assert_eq!(p.allocate(), Err(PoolExhausted));
    }
}
