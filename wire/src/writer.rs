use core::fmt;

/// Appends big-endian fields to a caller-owned `Vec<u8>`, with back-patched lengths.
///
/// Positions ([`Writer::position`]) are offsets into the whole vector, so a message can
/// be written after bytes the caller already put there (a header, a marker).
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

/// A reserved length field, to be filled by [`Writer::patch_u8`], [`Writer::patch_u16`]
/// or [`Writer::patch_u32`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reserved length must be patched"]
pub struct Patch {
    at: usize,
}

/// A length did not fit in its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthOverflow {
    /// The length that was to be written.
    pub len: usize,
    /// The largest value the field can hold.
    pub max: usize,
}

impl fmt::Display for LengthOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "length {} exceeds field maximum {}", self.len, self.max)
    }
}

impl std::error::Error for LengthOverflow {}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf }
    }

    /// Offset of the next byte written, from the start of the vector.
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a big-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian 24-bit value (the top byte of `v` is ignored).
    pub fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Reserves a one-byte length field.
    pub fn placeholder_u8(&mut self) -> Patch {
        let at = self.position();
        self.u8(0);
        Patch { at }
    }

    /// Reserves a two-byte length field.
    pub fn placeholder_u16(&mut self) -> Patch {
        let at = self.position();
        self.u16(0);
        Patch { at }
    }

    /// Reserves a four-byte length field.
    pub fn placeholder_u32(&mut self) -> Patch {
        let at = self.position();
        self.u32(0);
        Patch { at }
    }

    /// Writes `value` into a reserved one-byte field.
    pub fn patch_u8(&mut self, p: Patch, value: usize) -> Result<(), LengthOverflow> {
        let v = u8::try_from(value).map_err(|_| LengthOverflow {
            len: value,
            max: u8::MAX.into(),
        })?;
        self.patch_bytes(p, &[v]);
        Ok(())
    }

    /// Writes `value` into a reserved two-byte field.
    pub fn patch_u16(&mut self, p: Patch, value: usize) -> Result<(), LengthOverflow> {
        let v = u16::try_from(value).map_err(|_| LengthOverflow {
            len: value,
            max: u16::MAX.into(),
        })?;
        self.patch_bytes(p, &v.to_be_bytes());
        Ok(())
    }

    /// Writes `value` into a reserved four-byte field.
    pub fn patch_u32(&mut self, p: Patch, value: usize) -> Result<(), LengthOverflow> {
        let v = u32::try_from(value).map_err(|_| LengthOverflow {
            len: value,
            max: u32::MAX as usize,
        })?;
        self.patch_bytes(p, &v.to_be_bytes());
        Ok(())
    }

    /// Bits of a reserved two-byte field may carry flags (L2TP AVPs keep M/H in the top
    /// bits): this ORs `value` into the field after checking it fits in `bits` bits.
    pub fn patch_u16_bits(
        &mut self,
        p: Patch,
        value: usize,
        bits: u32,
    ) -> Result<(), LengthOverflow> {
        let max = (1usize << bits) - 1;
        if value > max {
            return Err(LengthOverflow { len: value, max });
        }
        let old = self
            .buf
            .get(p.at..p.at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_be_bytes)
            .unwrap_or(0);
        // `value <= max < 2^16` was checked above.
        let v = old | value as u16;
        self.patch_bytes(p, &v.to_be_bytes());
        Ok(())
    }

    /// Writes `f`'s output after a two-byte big-endian length of that output.
    pub fn with_len_u16<R>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> R,
    ) -> Result<R, LengthOverflow> {
        let p = self.placeholder_u16();
        let start = self.position();
        let r = f(self);
        let len = self.position() - start;
        self.patch_u16(p, len)?;
        Ok(r)
    }

    /// Writes `f`'s output after a one-byte length of that output.
    pub fn with_len_u8<R>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> R,
    ) -> Result<R, LengthOverflow> {
        let p = self.placeholder_u8();
        let start = self.position();
        let r = f(self);
        let len = self.position() - start;
        self.patch_u8(p, len)?;
        Ok(r)
    }

    fn patch_bytes(&mut self, p: Patch, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(p.at..p.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_patches_lengths_including_a_header() {
        // An IKE-style generic payload header: next(1) reserved(1) length(2) counting itself.
        let mut out = vec![0xee];
        let mut w = Writer::new(&mut out);
        let start = w.position();
        w.u8(13);
        w.u8(0);
        let len = w.placeholder_u16();
        w.bytes(b"abcd");
        let total = w.position() - start;
        w.patch_u16(len, total).unwrap();
        assert_eq!(out, [0xee, 13, 0, 0, 8, b'a', b'b', b'c', b'd']);
    }

    #[test]
    fn with_len_counts_only_the_body() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.with_len_u16(|w| {
            w.u32(0x01020304);
            w.u24(0x00aabbcc);
        })
        .unwrap();
        w.with_len_u8(|w| w.zeros(2)).unwrap();
        assert_eq!(out, [0, 7, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 2, 0, 0]);
    }

    #[test]
    fn overflow_is_an_error_not_a_truncation() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        let err = w.with_len_u8(|w| w.zeros(256)).unwrap_err();
        assert_eq!(err, LengthOverflow { len: 256, max: 255 });
    }

    #[test]
    fn flag_bits_survive_a_length_patch() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.u16(0x8000); // M bit
        let p = Patch { at: 0 };
        w.patch_u16_bits(p, 6, 10).unwrap();
        assert!(w.patch_u16_bits(p, 1024, 10).is_err());
        assert_eq!(out, [0x80, 0x06]);
    }
}
