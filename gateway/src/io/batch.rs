//! Outbound UDP datagrams gathered for one `sendmsg` with UDP segmentation offload
//! (`UDP_SEGMENT`): a burst of packets the TUN device gave, encrypted for the same peer,
//! leaves in one system call instead of one per packet. The kernel cuts the buffer back
//! into datagrams of the segment size (the last may be shorter), so only datagrams that
//! share local and remote address and, but for the last, the same length are joined.

use std::net::SocketAddr;

/// The most bytes one batch holds: the segments travel as one IP packet inside the
/// kernel until they are cut, and an IP packet holds at most 65 535 bytes.
pub const MAX_BATCH_BYTES: usize = 60_000;

/// Where a batch goes: our address and port, and the peer's.
pub type Path = (SocketAddr, SocketAddr);

/// Datagrams waiting for one segmented send. The buffer is allocated once.
#[derive(Debug)]
pub struct GsoBatch {
    buf: Box<[u8]>,
    len: usize,
    segment: usize,
    count: usize,
    path: Option<Path>,
    /// A shorter datagram was added: it must be the last.
    closed: bool,
}

impl Default for GsoBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl GsoBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self {
            buf: vec![0; MAX_BATCH_BYTES].into_boxed_slice(),
            len: 0,
            segment: 0,
            count: 0,
            path: None,
            closed: false,
        }
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether a datagram of `len` bytes for `path` may join what is waiting, given
    /// that the socket takes at most `max_segments` per send. An empty batch takes any
    /// datagram that fits the buffer.
    pub fn fits(&self, path: Path, len: usize, max_segments: usize) -> bool {
        if len == 0 || len > MAX_BATCH_BYTES {
            return false;
        }
        if self.count == 0 {
            return true;
        }
        self.path == Some(path)
            && !self.closed
            && len <= self.segment
            && self.count < max_segments
            && self.len + len <= MAX_BATCH_BYTES
    }

    /// Adds `datagram` for `path`. Returns false (and adds nothing) when it does not
    /// [fit](Self::fits); the caller sends what is waiting first.
    pub fn push(&mut self, path: Path, datagram: &[u8], max_segments: usize) -> bool {
        if !self.fits(path, datagram.len(), max_segments) {
            return false;
        }
        let Some(dst) = self.buf.get_mut(self.len..self.len + datagram.len()) else {
            return false;
        };
        dst.copy_from_slice(datagram);
        if self.count == 0 {
            self.segment = datagram.len();
            self.path = Some(path);
        } else if datagram.len() < self.segment {
            self.closed = true;
        }
        self.len += datagram.len();
        self.count += 1;
        true
    }

    /// What is waiting: the path, the bytes and the segment size, and the batch is
    /// empty again once the returned borrow ends.
    pub fn take(&mut self) -> Option<(Path, &[u8], usize)> {
        let path = self.path.take()?;
        let (len, segment) = (self.len, self.segment);
        self.len = 0;
        self.count = 0;
        self.segment = 0;
        self.closed = false;
        Some((path, self.buf.get(..len)?, segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(port: u16) -> Path {
        (
            "192.0.2.1:4500".parse().unwrap(),
            SocketAddr::new("192.0.2.2".parse().unwrap(), port),
        )
    }

    #[test]
    fn equal_datagrams_for_one_peer_join_and_come_out_in_order() {
        let mut b = GsoBatch::new();
        assert!(b.push(path(4500), &[1; 100], 64));
        assert!(b.push(path(4500), &[2; 100], 64));
        assert!(b.push(path(4500), &[3; 40], 64));
        let (p, data, segment) = b.take().unwrap();
        assert_eq!((p, segment, data.len()), (path(4500), 100, 240));
        assert_eq!((data[0], data[100], data[200], data[239]), (1, 2, 3, 3));
        assert!(b.is_empty() && b.take().is_none());
    }

    #[test]
    fn a_shorter_datagram_ends_the_batch_and_a_longer_one_never_joins() {
        let mut b = GsoBatch::new();
        assert!(b.push(path(4500), &[0; 100], 64));
        assert!(!b.push(path(4500), &[0; 101], 64));
        assert!(b.push(path(4500), &[0; 50], 64));
        assert!(
            !b.push(path(4500), &[0; 50], 64),
            "nothing after the short one"
        );
    }

    #[test]
    fn another_peer_or_port_does_not_join() {
        let mut b = GsoBatch::new();
        assert!(b.push(path(4500), &[0; 100], 64));
        assert!(!b.push(path(4501), &[0; 100], 64));
        let _ = b.take();
        assert!(
            b.push(path(4501), &[0; 100], 64),
            "an empty batch takes any path"
        );
    }

    #[test]
    fn the_segment_limit_and_the_byte_limit_hold() {
        let mut b = GsoBatch::new();
        assert!(b.push(path(4500), &[0; 10], 2));
        assert!(b.push(path(4500), &[0; 10], 2));
        assert!(!b.push(path(4500), &[0; 10], 2));
        let _ = b.take();
        let big = vec![0; 1500];
        let mut n = 0;
        while b.push(path(4500), &big, 128) {
            n += 1;
        }
        assert_eq!(n, MAX_BATCH_BYTES / 1500);
        assert!(!GsoBatch::new().fits(path(4500), MAX_BATCH_BYTES + 1, 64));
        assert!(!GsoBatch::new().fits(path(4500), 0, 64));
    }
}
