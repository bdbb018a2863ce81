//! Datagrams held while the record server has not yet said where they go (it is answering
//! the start or a resume): a fixed byte buffer filled once, emptied in order. When full, later
//! datagrams are counted and dropped, so the call's start is what is kept.

/// What the buffer holds at most: about 7 s of 20 ms G.711 or G.722 packets.
pub const BACKLOG_BYTES: usize = 64 * 1024;

/// See the module doc.
#[derive(Debug)]
pub struct Backlog {
    /// Each datagram as a two-byte big-endian length, then its bytes.
    buf: Vec<u8>,
    dropped: u64,
}

impl Backlog {
    /// Allocates the buffer once.
    pub fn new() -> Backlog {
        Backlog {
            buf: Vec::with_capacity(BACKLOG_BYTES),
            dropped: 0,
        }
    }

    /// Holds a datagram; false (and counted) if it does not fit.
    pub fn push(&mut self, datagram: &[u8]) -> bool {
        let need = 2 + datagram.len();
        if datagram.len() > usize::from(u16::MAX) || self.buf.len() + need > BACKLOG_BYTES {
            self.dropped += 1;
            return false;
        }
        // Within the capacity reserved at construction: no allocation.
        self.buf
            .extend_from_slice(&(datagram.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(datagram);
        true
    }

    /// Hands every held datagram to `send`, oldest first, and empties the buffer.
    pub fn drain(&mut self, mut send: impl FnMut(&[u8])) {
        let mut at = 0;
        while at + 2 <= self.buf.len() {
            let len = usize::from(u16::from_be_bytes([self.buf[at], self.buf[at + 1]]));
            let end = (at + 2 + len).min(self.buf.len());
            send(&self.buf[at + 2..end]);
            at = end;
        }
        self.buf.clear();
    }

    /// Forgets what is held (the recording ended before the server answered).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Datagrams dropped because the buffer was full, since the agent started.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Default for Backlog {
    fn default() -> Self {
        Backlog::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_the_oldest_when_full() {
        let mut b = Backlog::new();
        let packet = [7u8; 172];
        let fits = BACKLOG_BYTES / (2 + packet.len());
        for i in 0..fits + 10 {
            let mut p = packet;
            p[0] = i as u8;
            assert_eq!(b.push(&p), i < fits);
        }
        assert_eq!(b.dropped(), 10);
        let mut got = Vec::new();
        b.drain(|d| got.push((d.len(), d[0])));
        assert_eq!(got.len(), fits);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, &(len, first))| len == 172 && first == i as u8));
        assert!(b.is_empty());
        assert!(b.push(&[1, 2, 3]));
        let mut again = Vec::new();
        b.drain(|d| again.push(d.to_vec()));
        assert_eq!(again, [vec![1, 2, 3]]);
    }

    #[test]
    fn never_grows() {
        let mut b = Backlog::new();
        let cap = b.buf.capacity();
        for n in 0..5000 {
            b.push(&vec![0u8; n % 1500]);
        }
        assert_eq!(b.buf.capacity(), cap);
        b.clear();
        assert!(b.is_empty());
    }
}
