//! An in-memory stick for the core's tests: applies file ops and checks their order.

use super::record_file::{Header, HEADER_LEN};
use super::recorder::Recorder;
use super::writer::{FileOp, RecordWriter};

/// Applies ops to in-memory files, checking they come in a legal order.
#[derive(Default)]
pub struct Disk {
    pub files: Vec<Vec<u8>>,
    pub open: bool,
    pub appends: usize,
    pub commits: usize,
}

impl Disk {
    pub fn drain(&mut self, w: &mut RecordWriter) {
        while let Some(op) = w.poll_op() {
            self.apply(op);
        }
    }

    pub fn drain_recorder(&mut self, r: &mut Recorder) {
        while let Some(op) = r.poll_op() {
            self.apply(op);
        }
    }

    pub fn apply(&mut self, op: FileOp<'_>) {
        {
            match op {
                FileOp::Open(h) => {
                    assert!(!self.open, "open while a file is open");
                    assert_eq!(h.data_size, 0);
                    self.files.push(h.encode().to_vec());
                    self.open = true;
                }
                FileOp::Append(b) => {
                    assert!(self.open && !b.is_empty());
                    self.files.last_mut().unwrap().extend_from_slice(b);
                    self.appends += 1;
                }
                FileOp::Commit(h) | FileOp::Close(h) => {
                    let f = self.files.last_mut().unwrap();
                    assert_eq!(
                        h.data_size as usize,
                        f.len() - HEADER_LEN,
                        "header agrees with data"
                    );
                    f[..HEADER_LEN].copy_from_slice(&h.encode());
                    if matches!(op, FileOp::Close(_)) {
                        assert_eq!(h.data_size % h.rtp_len, 0, "closed file holds whole frames");
                        self.open = false;
                    } else {
                        self.commits += 1;
                    }
                }
            }
        }
    }

    pub fn header(&self, i: usize) -> Header {
        Header::decode(&self.files[i]).unwrap()
    }

    pub fn data(&self, i: usize) -> &[u8] {
        &self.files[i][HEADER_LEN..]
    }
}
