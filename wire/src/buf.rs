use core::fmt;

/// A packet buffer with headroom and tailroom, so headers can be prepended and trailers
/// appended in place (ESP header and IV before, padding and ICV after).
///
/// The payload is `storage[start..end]`. Nothing here allocates after construction.
#[derive(Clone)]
pub struct PacketBuf {
    storage: Box<[u8]>,
    start: usize,
    end: usize,
}

/// Not enough headroom or tailroom for an operation on a [`PacketBuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufError {
    /// Bytes that were needed.
    pub needed: usize,
    /// Bytes that were available.
    pub available: usize,
}

impl fmt::Display for BufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packet buffer too small: needed {} bytes, {} available",
            self.needed, self.available
        )
    }
}

impl std::error::Error for BufError {}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBuf")
            .field("capacity", &self.storage.len())
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

impl PacketBuf {
    /// A buffer of `capacity` bytes with an empty payload starting at `headroom`.
    pub fn new(capacity: usize, headroom: usize) -> Self {
        let headroom = headroom.min(capacity);
        Self {
            storage: vec![0; capacity].into_boxed_slice(),
            start: headroom,
            end: headroom,
        }
    }

    /// Empties the payload and puts its start at `headroom`.
    pub fn reset(&mut self, headroom: usize) {
        let h = headroom.min(self.storage.len());
        self.start = h;
        self.end = h;
    }

    /// Total capacity.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Bytes free before the payload.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes free after the payload.
    pub fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }

    /// Payload length.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.storage.get(self.start..self.end).unwrap_or_default()
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.storage
            .get_mut(self.start..self.end)
            .unwrap_or_default()
    }

    /// Everything after the headroom: the payload followed by the tailroom. Reading into
    /// this and then calling [`Self::set_len`] fills the buffer without a copy.
    pub fn spare_from_start(&mut self) -> &mut [u8] {
        self.storage.get_mut(self.start..).unwrap_or_default()
    }

    /// Sets the payload length (after writing through [`Self::spare_from_start`]).
    pub fn set_len(&mut self, len: usize) -> Result<(), BufError> {
        let available = self.storage.len() - self.start;
        if len > available {
            return Err(BufError {
                needed: len,
                available,
            });
        }
        self.end = self.start + len;
        Ok(())
    }

    /// Replaces the payload with a copy of `data`, keeping the current start.
    pub fn set_payload(&mut self, data: &[u8]) -> Result<(), BufError> {
        self.set_len(data.len())?;
        self.payload_mut().copy_from_slice(data);
        Ok(())
    }

    /// Grows the payload by `n` bytes at the front and returns them.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        if n > self.start {
            return Err(BufError {
                needed: n,
                available: self.start,
            });
        }
        self.start -= n;
        Ok(self
            .storage
            .get_mut(self.start..self.start + n)
            .unwrap_or_default())
    }

    /// Grows the payload by `n` bytes at the end and returns them.
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], BufError> {
        let available = self.tailroom();
        if n > available {
            return Err(BufError {
                needed: n,
                available,
            });
        }
        let old = self.end;
        self.end += n;
        Ok(self.storage.get_mut(old..self.end).unwrap_or_default())
    }

    /// Removes `n` bytes from the front of the payload (they become headroom).
    pub fn trim_front(&mut self, n: usize) -> Result<(), BufError> {
        let available = self.len();
        if n > available {
            return Err(BufError {
                needed: n,
                available,
            });
        }
        self.start += n;
        Ok(())
    }

    /// Shortens the payload to `len` bytes (the rest becomes tailroom).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_append_in_place() {
        let mut b = PacketBuf::new(64, 16);
        b.set_payload(b"data").unwrap();
        b.prepend(4).unwrap().copy_from_slice(b"HEAD");
        b.append(4).unwrap().copy_from_slice(b"TAIL");
        assert_eq!(b.payload(), b"HEADdataTAIL");
        assert_eq!(b.headroom(), 12);
        assert_eq!(b.tailroom(), 64 - 16 - 8);
        b.trim_front(4).unwrap();
        b.truncate(4);
        assert_eq!(b.payload(), b"data");
    }

    #[test]
    fn refuses_instead_of_panicking() {
        let mut b = PacketBuf::new(8, 2);
        assert_eq!(
            b.prepend(3).unwrap_err(),
            BufError {
                needed: 3,
                available: 2
            }
        );
        assert!(b.append(7).is_err());
        assert!(b.trim_front(1).is_err());
        assert!(b.set_len(7).is_err());
        b.spare_from_start()[..3].copy_from_slice(b"abc");
        b.set_len(3).unwrap();
        assert_eq!(b.payload(), b"abc");
    }
}
