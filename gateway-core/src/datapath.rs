//! The data path, shared by the server ([`crate::Core`]) and the client
//! ([`crate::ClientCore`]): small steps on one buffer, each returning the [`Counter`] of
//! its refusal. Nothing here allocates.
//!
//! Inbound (a datagram in the driver's buffer, opened in place; every step works on
//! ranges of that one buffer):
//! 1. UDP 4500 is sorted by [`esp::nat_t::classify_4500`] (IKE, keepalive, ESP);
//! 2. [`open_esp`]: the SA found by SPI in an [`esp::SaTable`], the encapsulation IKE
//!    negotiated for it checked, the packet authenticated and decrypted in place;
//! 3. [`inner_l2tp`]: the inner UDP header (port 1701);
//! 4. [`l2tp_in`]: L2TP, which hands over a PPP frame (or handles a control message);
//! 5. [`ppp_in`]: PPP, which hands over an IPv4 packet (or handles a control frame);
//! 6. the server's policy steps, each on its own: [`check_source`] (anti-spoofing),
//!    [`check_client_to_client`], [`clamp_mss`].
//!
//! Outbound (an IP packet in a [`PacketBuf`] with headroom, headers prepended in place):
//! [`tun_ipv4_dst`], [`clamp_mss`] (server), [`encap_ppp_l2tp`], then [`seal_esp`]
//! (UDP 1701 and ESP), which also seals L2TP control messages.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::time::Instant;

use wire::PacketBuf;
use wire::ip::IpProtocol;

use crate::counters::{Counter, Counters};
use crate::pool::AddressPool;
use crate::{mss, transport};

/// How an ESP packet travels: in UDP (port 4500, RFC 3948) or as IP protocol 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encapsulation {
    /// ESP in UDP 4500.
    Udp,
    /// Raw ESP (IP protocol 50).
    Raw,
}

impl Encapsulation {
    /// `Udp` when `udp_encapsulated`.
    pub(crate) fn of(udp_encapsulated: bool) -> Self {
        if udp_encapsulated {
            Self::Udp
        } else {
            Self::Raw
        }
    }
}

/// What an engine keeps with each inbound SA in its [`esp::SaTable`]: the
/// encapsulation IKE negotiated (the only one accepted) and the owner (the server's
/// peer; nothing for the client).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SaTag<T> {
    /// How the SA's packets must arrive.
    pub(crate) encapsulation: Encapsulation,
    /// Whose SA it is.
    pub(crate) owner: T,
}

/// The inbound SAs of an engine.
pub(crate) type InboundSas<T> = esp::SaTable<SaTag<T>>;

/// An authenticated, decrypted ESP packet carrying UDP.
#[derive(Debug, Clone)]
pub(crate) struct Decrypted<T> {
    /// The SA's SPI (ours).
    pub(crate) spi: esp::Spi,
    /// The packet's sequence number.
    pub(crate) seq: u64,
    /// The SA's owner.
    pub(crate) owner: T,
    /// Where the inner UDP datagram lies in the buffer.
    pub(crate) udp: Range<usize>,
}

/// Step 2: finds the SA by SPI, refuses a packet that arrived in another encapsulation
/// than its SA's (before anything is checked, so no sequence number is consumed), and
/// opens the packet in place. `Ok(None)`: a dummy packet (next header 59), to ignore.
pub(crate) fn open_esp<T: Copy>(
    sas: &mut InboundSas<T>,
    arrived: Encapsulation,
    data: &mut [u8],
) -> Result<Option<Decrypted<T>>, Counter> {
    let (opened, tag) = sas.open_tagged(data, |tag| {
        if tag.encapsulation == arrived {
            Ok(())
        } else {
            Err(Counter::EspWrongEncapsulation)
        }
    })?;
    if opened.is_dummy() {
        return Ok(None);
    }
    if opened.next_header != IpProtocol::Udp {
        return Err(Counter::EspNotUdp);
    }
    Ok(Some(Decrypted {
        spi: opened.spi,
        seq: opened.seq,
        owner: tag.owner,
        udp: opened.range.clone(),
    }))
}

/// Step 3: checks the inner UDP header of the datagram at `udp` in `data` (port 1701;
/// the checksum when `addresses`, source and destination, allow it). Returns the
/// sender's port and where the L2TP message lies in `data`.
pub(crate) fn inner_l2tp(
    data: &[u8],
    udp: Range<usize>,
    addresses: Option<(IpAddr, IpAddr)>,
) -> Result<(u16, Range<usize>), Counter> {
    let datagram = data.get(udp.clone()).ok_or(Counter::InnerUdpLength)?;
    let inner = transport::parse_inner(datagram, addresses)?;
    Ok((
        inner.src_port,
        udp.start + inner.payload.start..udp.start + inner.payload.end,
    ))
}

/// What L2TP made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum L2tpIn {
    /// A PPP frame of `session`, at `frame` in the buffer.
    Frame {
        /// The L2TP session.
        session: l2tp::SessionRef,
        /// Where the frame lies in the buffer.
        frame: Range<usize>,
    },
    /// A control message (or an acknowledgement): L2TP handled it; the engine drains
    /// what it queued.
    Control,
}

/// Step 4: the L2TP message at `message` in `data`, from `peer`. A refusal is counted
/// in detail by the L2TP engine (which may also have queued a reply).
pub(crate) fn l2tp_in(
    l2tp: &mut l2tp::Endpoint,
    now: Instant,
    peer: l2tp::PeerId,
    data: &[u8],
    message: Range<usize>,
) -> Result<L2tpIn, Counter> {
    let bytes = data.get(message.clone()).ok_or(Counter::L2tpRejected)?;
    match l2tp.handle_datagram(now, peer, bytes) {
        Ok(Some(p)) => Ok(L2tpIn::Frame {
            session: p.session,
            frame: message.start + p.range.start..message.start + p.range.end,
        }),
        Ok(None) => Ok(L2tpIn::Control),
        Err(_) => Err(Counter::L2tpRejected),
    }
}

/// What PPP made of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PppIn {
    /// An IPv4 packet, at this range of the buffer (the frame's tail).
    Ipv4(Range<usize>),
    /// A control frame: PPP handled it; the engine drains what it queued.
    Control,
}

/// Step 5: the PPP frame at `frame` in `data`.
pub(crate) fn ppp_in(
    ppp: &mut ppp::Session,
    now: Instant,
    data: &[u8],
    frame: Range<usize>,
) -> Result<PppIn, Counter> {
    let bytes = data.get(frame.clone()).ok_or(Counter::PppMalformed)?;
    match ppp.handle_frame(now, bytes) {
        // The IP packet is the frame's information field, its tail.
        Ok(Some(ppp::IpIn::V4(packet))) => frame
            .end
            .checked_sub(packet.len())
            .map(|start| PppIn::Ipv4(start..frame.end))
            .ok_or(Counter::PppMalformed),
        Ok(Some(ppp::IpIn::V6(_))) => Err(Counter::Ipv6FromClient),
        Ok(None) => Ok(PppIn::Control),
        Err(_) => Err(Counter::PppMalformed),
    }
}

/// The source and destination of the IPv4 packet `packet`.
pub(crate) fn ipv4_addresses(packet: &[u8]) -> Result<(Ipv4Addr, Ipv4Addr), Counter> {
    let v4 = wire::ip::Ipv4Packet::new_checked(packet).map_err(|_| Counter::InnerIpMalformed)?;
    Ok((v4.src(), v4.dst()))
}

/// Policy, anti-spoofing: a client may send only from the address its session was
/// given, and only once that address is routed to it (`assigned`).
pub(crate) fn check_source(src: Ipv4Addr, assigned: Option<Ipv4Addr>) -> Result<(), Counter> {
    if assigned == Some(src) {
        Ok(())
    } else {
        Err(Counter::SpoofedSource)
    }
}

/// Policy, client isolation: unless `allowed`, a client may not reach another
/// client's address in the pool (the gateway's own address and the broadcast address
/// are not clients).
pub(crate) fn check_client_to_client(
    dst: Ipv4Addr,
    pool: &AddressPool,
    allowed: bool,
) -> Result<(), Counter> {
    let cidr = pool.cidr();
    if !allowed && cidr.contains(dst) && dst != pool.gateway() && dst != cidr.broadcast() {
        Err(Counter::ClientToClient)
    } else {
        Ok(())
    }
}

/// Policy, TCP MSS: lowers a SYN's MSS option to `limit` (counted as an event).
pub(crate) fn clamp_mss(packet: &mut [u8], limit: u16, counters: &mut Counters) {
    if mss::clamp(packet, limit) {
        counters.bump(Counter::TcpMssClamped);
    }
}

/// Outbound: the destination of the IPv4 packet `packet` from the TUN device (IPv6 is
/// not carried).
pub(crate) fn tun_ipv4_dst(packet: &[u8]) -> Result<Ipv4Addr, Counter> {
    match wire::ip::version(packet) {
        Some(4) => wire::ip::Ipv4Packet::new_checked(packet)
            .map(|p| p.dst())
            .map_err(|_| Counter::TunMalformed),
        Some(6) => Err(Counter::TunIpv6),
        _ => Err(Counter::TunMalformed),
    }
}

/// Outbound: PPP and L2TP headers in front of the IPv4 packet in `buf`, for `session`.
pub(crate) fn encap_ppp_l2tp(
    buf: &mut PacketBuf,
    ppp: &ppp::Session,
    l2tp: &mut l2tp::Endpoint,
    session: l2tp::SessionRef,
) -> Result<(), Counter> {
    if !ppp.ipv4_open() || ppp.encap_ip(ppp::IpVersion::V4, buf).is_err() {
        return Err(Counter::PppNotOpen);
    }
    l2tp.encap_data(session, buf)
        .map_err(|_| Counter::L2tpNotOpen)
}

/// Outbound: the UDP header (from port 1701 to `l2tp_port`; with a checksum over
/// `addresses`, ours and the peer's, for raw ESP) and ESP under `sa` in front of the
/// L2TP message in `buf`.
pub(crate) fn seal_esp(
    buf: &mut PacketBuf,
    l2tp_port: u16,
    addresses: Option<(IpAddr, IpAddr)>,
    sa: &mut esp::OutboundSa,
) -> Result<(), Counter> {
    transport::push_udp(buf, l2tp_port, addresses).map_err(|_| Counter::TxNoRoom)?;
    sa.seal(IpProtocol::Udp, buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Ipv4Cidr;

    #[test]
    fn policies_refuse_with_their_counter() {
        let a = Ipv4Addr::new(10, 77, 0, 2);
        assert_eq!(check_source(a, Some(a)), Ok(()));
        assert_eq!(check_source(a, None), Err(Counter::SpoofedSource));
        assert_eq!(
            check_source(a, Some(Ipv4Addr::new(10, 77, 0, 3))),
            Err(Counter::SpoofedSource)
        );
        let pool = AddressPool::new(
            Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 0), 24).unwrap(),
            None,
            [],
        )
        .unwrap();
        let other = Ipv4Addr::new(10, 77, 0, 9);
        assert_eq!(
            check_client_to_client(other, &pool, false),
            Err(Counter::ClientToClient)
        );
        assert_eq!(check_client_to_client(other, &pool, true), Ok(()));
        for dst in [
            pool.gateway(),
            Ipv4Addr::new(10, 77, 0, 255),
            Ipv4Addr::new(9, 9, 9, 9),
        ] {
            assert_eq!(check_client_to_client(dst, &pool, false), Ok(()), "{dst}");
        }
    }

    #[test]
    fn inner_l2tp_gives_ranges_of_the_whole_buffer() {
        // 3 bytes before the UDP datagram; UDP 1701 -> 1701, length 8 + 2.
        let data = [9, 9, 9, 0x06, 0xa5, 0x06, 0xa5, 0, 10, 0, 0, 0xc0, 0x02];
        assert_eq!(inner_l2tp(&data, 3..13, None), Ok((1701, 11..13)));
        assert_eq!(inner_l2tp(&data, 3..9, None), Err(Counter::InnerUdpLength));
    }
}
