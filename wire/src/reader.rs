use crate::DecodeError;

/// A cursor over borrowed input. Every read names what it reads, so errors say what was
/// missing; nothing here panics on short or hostile input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Offset of the next byte from the start of the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The whole input this reader was made over (read and unread).
    pub fn input(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes the next `len` bytes.
    pub fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        if len > available {
            return Err(DecodeError::Truncated {
                what,
                needed: len,
                available,
            });
        }
        let start = self.pos;
        self.pos += len;
        self.buf.get(start..self.pos).ok_or(DecodeError::Truncated {
            what,
            needed: len,
            available,
        })
    }

    /// Takes the next `N` bytes as an array reference.
    pub fn take_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<&'a [u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        bytes.try_into().map_err(|_| DecodeError::Truncated {
            what,
            needed: N,
            available: bytes.len(),
        })
    }

    /// A sub-reader over the next `len` bytes; this reader moves past them.
    pub fn sub(&mut self, len: usize, what: &'static str) -> Result<Self, DecodeError> {
        self.take(len, what).map(Self::new)
    }

    /// Everything not yet read; the reader is then empty.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        rest
    }

    /// The next byte, without consuming it.
    pub fn peek_u8(&self, what: &'static str) -> Result<u8, DecodeError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated {
                what,
                needed: 1,
                available: 0,
            })
    }

    /// Reads a byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.take_array::<1>(what).map(|&[b]| b)
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.take_array(what).map(|b| u16::from_be_bytes(*b))
    }

    /// Reads a big-endian 24-bit value.
    pub fn u24(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.take_array::<3>(what)
            .map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.take_array(what).map(|b| u32::from_be_bytes(*b))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.take_array(what).map(|b| u64::from_be_bytes(*b))
    }

    /// Succeeds only if every byte has been read (`what` names the structure that should end).
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingData { what, extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields_in_order() {
        let data = [1, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0xaa];
        let mut r = Reader::new(&data);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u24("c").unwrap(), 0x040506);
        assert_eq!(r.u32("d").unwrap(), 0x0708_09aa);
        assert!(r.is_empty());
        r.finish("msg").unwrap();
    }

    #[test]
    fn truncation_names_the_field() {
        let mut r = Reader::new(&[1, 2, 3]);
        r.u8("first").unwrap();
        let err = r.u32("spi").unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                what: "spi",
                needed: 4,
                available: 2
            }
        );
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 2);
    }

    #[test]
    fn sub_reader_is_bounded_and_trailing_data_is_reported() {
        let mut r = Reader::new(&[0, 3, 9, 9, 9, 7]);
        let len = r.u16("len").unwrap() as usize;
        let mut sub = r.sub(len, "body").unwrap();
        assert_eq!(sub.take(3, "x").unwrap(), &[9, 9, 9]);
        assert!(sub.u8("y").is_err());
        assert_eq!(
            r.finish("msg"),
            Err(DecodeError::TrailingData {
                what: "msg",
                extra: 1
            })
        );
        assert_eq!(r.rest(), &[7]);
        assert!(r.is_empty());
    }

    #[test]
    fn take_more_than_available_fails_without_overflow() {
        let mut r = Reader::new(&[0; 4]);
        assert!(r.take(usize::MAX, "huge").is_err());
        assert!(r.peek_u8("p").is_ok());
    }
}
