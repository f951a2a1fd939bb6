//! TCP MSS clamping on any bytes as an IPv4 packet: never a panic, nothing changed but
//! the MSS value and the TCP checksum, and a TCP checksum that
//! was valid before stays valid.
#![no_main]

use gateway_core::mss::clamp;
use libfuzzer_sys::fuzz_target;

/// The TCP checksum of `p` (IPv4, header length from the packet) sums to zero.
fn tcp_checksum_ok(p: &[u8]) -> Option<bool> {
    let v = wire::ip::Ipv4Packet::new_checked(p).ok()?;
    let tcp = p.get(v.header_len()..v.packet_len())?;
    let pseudo = wire::checksum::pseudo_header(
        v.src().into(),
        v.dst().into(),
        6,
        u32::try_from(tcp.len()).ok()?,
    );
    Some(wire::checksum::finish(wire::checksum::sum(pseudo, tcp)) == 0)
}

fuzz_target!(|data: &[u8]| {
    let Some((limit, packet)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limit = u16::from_be_bytes(*limit);
    let before = packet.to_vec();
    let mut after = packet.to_vec();
    if !clamp(&mut after, limit) {
        assert_eq!(before, after, "unchanged when clamp says so");
        return;
    }
    let changed: Vec<usize> = (0..after.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    assert!(
        changed.len() <= 4,
        "only the MSS and the checksum change: {changed:?}"
    );
    if tcp_checksum_ok(&before) == Some(true) {
        assert_eq!(
            tcp_checksum_ok(&after),
            Some(true),
            "a valid checksum stays valid"
        );
    }
});
