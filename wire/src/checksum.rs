//! The Internet checksum (RFC 1071) and the UDP/TCP pseudo-header sums.

use core::net::IpAddr;

/// One's-complement sum of `data` as big-endian 16-bit words (odd length padded with a
/// zero byte), added to `initial`; not yet folded or inverted.
pub fn sum(initial: u32, data: &[u8]) -> u32 {
    let mut acc = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [hi, lo] = *c {
            acc += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold64(acc)
}

fn fold64(mut acc: u64) -> u32 {
    while acc > 0xffff_ffff {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// Folds a running sum to 16 bits and complements it: the value to store in a header.
pub fn finish(sum: u32) -> u16 {
    let mut s = sum;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The Internet checksum of `data`.
pub fn internet(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// The pseudo-header sum for UDP or TCP (RFC 768, RFC 8200 §8.1): source and destination
/// addresses, protocol and upper-layer length. Mixed address families sum the bytes given.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u32 {
    let mut s = 0;
    s = match src {
        IpAddr::V4(a) => sum(s, &a.octets()),
        IpAddr::V6(a) => sum(s, &a.octets()),
    };
    s = match dst {
        IpAddr::V4(a) => sum(s, &a.octets()),
        IpAddr::V6(a) => sum(s, &a.octets()),
    };
    let s = u64::from(s) + u64::from(protocol) + u64::from(len >> 16) + u64::from(len & 0xffff);
    fold64(s)
}

/// Incrementally updates `old_checksum` when a 16-bit word changes from `old` to `new`
/// (RFC 1624, eqn. 3), as when NAT rewrites an address.
pub fn update_word(old_checksum: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!old_checksum) + u32::from(!old) + u32::from(new);
    finish(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (before complement).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(!internet(&data), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            internet(&[0x12, 0x34, 0x56]),
            internet(&[0x12, 0x34, 0x56, 0x00])
        );
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut data = [
            0x45u8, 0, 0, 28, 0xab, 0xcd, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = internet(&data);
        let old = u16::from_be_bytes([data[18], data[19]]);
        data[18] = 0xc0;
        data[19] = 0xa8;
        let new = u16::from_be_bytes([data[18], data[19]]);
        assert_eq!(update_word(c, old, new), internet(&data));
    }
}
