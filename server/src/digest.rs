//! The Record digest: what proves a Record file unchanged since the server wrote it.
//!
//! **Definition.** The digest of a file of `n` bytes is the SHA-256 of its bytes from offset 76
//! to the end, followed by its first `min(n, 76)` bytes: the audio data first, then the
//! header. An auditor computes it with coreutils alone:
//!
//! ```text
//! { tail -c +77 FILE; head -c 76 FILE; } | sha256sum
//! ```
//!
//! **Why this order.** The header comes first in the file and its `dataSize` is rewritten about
//! once a second while the data grows, so its final bytes are known only at the close. SHA-256
//! is sequential: the plain `sha256sum FILE` would need the final header before the first data
//! byte, i.e. a second read of the whole file at every close. Hashing the data as it is
//! appended and the final header last needs no read at all, and still covers every byte of the
//! file (a digest of the data alone would leave the header, which says how to play the data,
//! unprotected).
//!
//! [`Hashing`] wraps the server's open file and computes the digest from what the writer
//! appends and the header it writes last. [`of_file`] reads a file and computes the same, for
//! verification, for files repaired after a crash, and for a write that failed part-way.

use callrec_core::record_file::HEADER_LEN;
use callrec_platform::store::fs::DirFile;
use callrec_platform::store::{RecordSink, StorageError};
use core::fmt;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A Record file's digest (see the module doc).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// 64 lowercase hex digits, as the sidecar and the catalog hold it.
    pub fn hex(&self) -> String {
        self.to_string()
    }

    /// Reads [`Digest::hex`]'s form back (lowercase or uppercase hex); `None` for anything else.
    pub fn parse(text: &str) -> Option<Digest> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// The digest of a file whose bytes arrive in file order, in pieces of any size: the first 76
/// are held back and hashed after the rest.
#[derive(Clone)]
pub struct Hasher {
    sha: Sha256,
    header: [u8; HEADER_LEN],
    /// Bytes seen so far (the file offset of the next one).
    pos: u64,
}

impl Default for Hasher {
    fn default() -> Hasher {
        Hasher::new()
    }
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher {
            sha: Sha256::new(),
            header: [0; HEADER_LEN],
            pos: 0,
        }
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// The file's next bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if self.pos < HEADER_LEN as u64 {
            // `pos` is below 76 here: the casts are exact.
            let at = self.pos as usize;
            let n = bytes.len().min(HEADER_LEN - at);
            self.header[at..at + n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.pos += n as u64;
        }
        self.sha.update(bytes);
        self.pos += bytes.len() as u64;
    }

    pub fn finish(mut self) -> Digest {
        let held = self.pos.min(HEADER_LEN as u64) as usize;
        self.sha.update(&self.header[..held]);
        Digest(self.sha.finalize().into())
    }
}

/// Reads the file at `path` to its end and returns its digest and length.
pub fn of_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut file = File::open(path)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = h.len();
    Ok((h.finish(), len))
}

/// Files larger than this are not read back to compute a digest on a media thread (only after
/// an irregular failure, see [`Hashing::digest`]); they get none.
pub const MAX_READ_BACK: u64 = 16 * 1024 * 1024;

/// A Record file being written, hashed as it goes: the bytes appended (the header the opening
/// writes first, then the data) and, at the end, the header as last rewritten. The recorder's
/// writer drives it like the plain file (`RecordSink`); [`Hashing::digest`] gives the digest
/// once the file is closed, without reading it.
///
/// A failed write and the salvage after it (`RecordWriter::salvage`: a torn last frame cut,
/// the header made to agree) are followed exactly too: the data's last frame is held back from
/// the hash until the end, so a cut of less than a frame is undone, and what a failed append
/// may have written (a prefix of its bytes) is kept until the salvage says how much of it
/// stays. Anything else irregular leaves the bytes on disk unknown: the digest is then taken
/// by reading the file, if it is small.
pub struct Hashing<F> {
    file: F,
    path: PathBuf,
    /// The data, except `tail`.
    data: Sha256,
    /// The last data bytes appended, not hashed yet: at most two frames.
    tail: Vec<u8>,
    /// Bytes in the file as written: the header's and the data's.
    pos: u64,
    /// The header as last written, whole or appended.
    header: [u8; HEADER_LEN],
    /// The bytes of an append that failed: a prefix of them may be on disk past `pos`.
    unsure: Vec<u8>,
    /// The file holds exactly the header and what was hashed.
    exact: bool,
}

impl Hashing<DirFile> {
    pub fn new(file: DirFile) -> Hashing<DirFile> {
        let path = file.path().to_owned();
        Hashing::wrap(file, path)
    }
}

impl<F: RecordSink> Hashing<F> {
    /// `file`, which is the (new, empty) file at `path`.
    pub fn wrap(file: F, path: PathBuf) -> Hashing<F> {
        Hashing {
            file,
            path,
            data: Sha256::new(),
            tail: Vec::new(),
            pos: 0,
            header: [0; HEADER_LEN],
            unsure: Vec::new(),
            exact: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The frame size the header names (bytes 64..68): how much a salvage may cut.
    fn frame(&self) -> usize {
        let b = &self.header[64..68];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]]).clamp(1, 65_535) as usize
    }

    /// Data bytes appended: into the hash, except the last frame's worth, which waits in
    /// `tail` (at most two frames; never a copy of a whole append).
    fn take_data(&mut self, bytes: &[u8]) {
        let keep = self.frame();
        if bytes.len() >= keep {
            let (now, later) = bytes.split_at(bytes.len() - keep);
            self.data.update(&self.tail);
            self.data.update(now);
            self.tail.clear();
            self.tail.extend_from_slice(later);
        } else {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > 2 * keep {
                let n = self.tail.len() - keep;
                self.data.update(&self.tail[..n]);
                self.tail.drain(..n);
            }
        }
    }

    /// Bytes appended at `pos` (and now on disk): the header's first, then data.
    fn take(&mut self, mut bytes: &[u8]) {
        if self.pos < HEADER_LEN as u64 {
            let at = self.pos as usize;
            let n = bytes.len().min(HEADER_LEN - at);
            self.header[at..at + n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.pos += n as u64;
        }
        self.take_data(bytes);
        self.pos += bytes.len() as u64;
    }

    /// The digest of the file as it is now: from what was written when that is known exactly,
    /// else by reading the file (at most [`MAX_READ_BACK`] bytes); `None` if neither works.
    pub fn digest(&self) -> Option<Digest> {
        let on_disk = self.file.file_len().ok();
        if self.exact && on_disk == Some(self.pos) {
            let mut sha = self.data.clone();
            sha.update(&self.tail);
            let held = self.pos.min(HEADER_LEN as u64) as usize;
            sha.update(&self.header[..held]);
            return Some(Digest(sha.finalize().into()));
        }
        if on_disk.is_some_and(|n| n <= MAX_READ_BACK) {
            match of_file(&self.path) {
                Ok((d, _)) => return Some(d),
                Err(e) => log::warn!("{}: no digest: {e}", self.path.display()),
            }
        } else {
            log::warn!(
                "{}: no digest: its bytes are not known after a failed write",
                self.path.display()
            );
        }
        None
    }
}

impl<F: RecordSink> RecordSink for Hashing<F> {
    fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if !self.unsure.is_empty() {
            // An append after a failed one: what lies between is not known.
            self.exact = false;
        }
        match self.file.append(bytes) {
            Ok(()) => {
                self.take(bytes);
                Ok(())
            }
            Err(e) => {
                if self.pos < HEADER_LEN as u64 {
                    self.exact = false;
                }
                self.unsure = bytes.to_vec();
                Err(e)
            }
        }
    }

    fn write_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<(), StorageError> {
        if self.pos < HEADER_LEN as u64 {
            // A header over a file that does not yet hold one: not what the writer does.
            self.exact = false;
        }
        let r = self.file.write_header(header);
        if r.is_err() {
            // What reached the disk of it is not known.
            self.exact = false;
        } else if self.pos >= HEADER_LEN as u64 {
            self.header = *header;
        }
        r
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.file.sync()
    }

    fn file_len(&self) -> Result<u64, StorageError> {
        self.file.file_len()
    }

    fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        let r = self.file.truncate(len);
        if r.is_err() {
            self.exact = false;
            return r;
        }
        let unsure = std::mem::take(&mut self.unsure);
        let data_start = HEADER_LEN as u64;
        if len >= self.pos && len - self.pos <= unsure.len() as u64 && self.pos >= data_start {
            // What the failed append left before the cut stays.
            self.take_data(&unsure[..(len - self.pos) as usize]);
            self.pos = len;
        } else if len < self.pos && self.pos - len <= self.tail.len() as u64 && len >= data_start {
            // Less than a frame cut: undone from the part not hashed yet.
            let keep = self.tail.len() - (self.pos - len) as usize;
            self.tail.truncate(keep);
            self.pos = len;
        } else {
            self.exact = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_core::codec::Codec;
    use callrec_core::record_file::Header;
    use callrec_core::writer::FileOp;
    use callrec_platform::store::fs::DirStorage;
    use callrec_platform::store::writer::{Done, Durability, RecordWriter};
    use callrec_platform::store::Storage;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("callrec-digest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn header(data_size: u32) -> Header {
        Header {
            codec: Codec::Pcma,
            rtp_len: 160,
            increment: 160,
            data_size,
        }
    }

    /// The definition, spelled out: SHA-256 of the bytes after the header, then the header.
    fn by_definition(bytes: &[u8]) -> Digest {
        let cut = bytes.len().min(HEADER_LEN);
        let mut sha = Sha256::new();
        sha.update(&bytes[cut..]);
        sha.update(&bytes[..cut]);
        Digest(sha.finalize().into())
    }

    /// Writes a file through the server's writer as a recording does: the opening header,
    /// frames, a header rewrite every `commit_every` frames, the final header at the close.
    fn write_through_writer(d: &Path, name: &str, frames: u32, commit_every: u32) -> Digest {
        let mut storage = DirStorage::new(d);
        let mut w: RecordWriter<Hashing<DirFile>> = RecordWriter::new(Durability::SyncAtClose);
        let mut create = || {
            let f = storage.create_new(name)?.unwrap();
            Ok((Hashing::new(f), name.to_owned()))
        };
        w.perform(FileOp::Open(header(0)), &mut create).unwrap();
        for k in 0..frames {
            let frame = [k as u8; 160];
            w.perform(FileOp::Append(&frame), &mut create).unwrap();
            if (k + 1) % commit_every == 0 {
                w.perform(FileOp::Commit(header((k + 1) * 160)), &mut create)
                    .unwrap();
            }
        }
        match w.perform(FileOp::Close(header(frames * 160)), &mut create) {
            Ok(Done::Closed(open)) => open.file.digest().unwrap(),
            _ => panic!("the close closes"),
        }
    }

    #[test]
    fn a_file_written_with_header_rewrites_hashes_to_what_a_reader_computes() {
        let d = dir("writer");
        let written = write_through_writer(&d, "a.wav", 120, 50);
        let bytes = std::fs::read(d.join("a.wav")).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 120 * 160);
        // The header on disk is the final one, not the one the data was appended under.
        assert_eq!(bytes[..HEADER_LEN], header(120 * 160).encode());
        assert_eq!(written, by_definition(&bytes));
        assert_eq!(
            of_file(&d.join("a.wav")).unwrap(),
            (written, bytes.len() as u64)
        );
        // A reader's pieces may split the file anywhere, the header included.
        for split in [1, 7, 75, 76, 77, 4096] {
            let mut h = Hasher::new();
            bytes.chunks(split).for_each(|c| h.update(c));
            assert_eq!(h.finish(), written, "pieces of {split}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn appends_of_any_size_hash_as_the_file_reads() {
        let d = dir("sizes");
        let mut storage = DirStorage::new(&d);
        let mut w: RecordWriter<Hashing<DirFile>> = RecordWriter::new(Durability::SyncAtClose);
        let mut create = || {
            Ok((
                Hashing::new(storage.create_new("e.wav")?.unwrap()),
                "e.wav".into(),
            ))
        };
        w.perform(FileOp::Open(header(0)), &mut create).unwrap();
        let mut total = 0u32;
        // A second's batch, a packet of another size, less than a frame, more batches.
        for (k, n) in [8000usize, 7, 8000, 100, 1, 159, 16_000]
            .into_iter()
            .enumerate()
        {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 31 + k) as u8).collect();
            w.perform(FileOp::Append(&bytes), &mut create).unwrap();
            total += n as u32;
            w.perform(FileOp::Commit(header(total)), &mut create)
                .unwrap();
        }
        let Ok(Done::Closed(open)) = w.perform(FileOp::Close(header(total)), &mut create) else {
            panic!("the close closes");
        };
        let bytes = std::fs::read(d.join("e.wav")).unwrap();
        assert_eq!(open.file.digest(), Some(by_definition(&bytes)));
        // Held back from the hash meanwhile: at most two frames.
        assert!(open.file.tail.len() <= 2 * 160, "{}", open.file.tail.len());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_definition_is_what_coreutils_compute() {
        let d = dir("coreutils");
        let digest = write_through_writer(&d, "b.wav", 10, 3);
        let path = d.join("b.wav");
        let script = format!(
            "{{ tail -c +77 '{0}'; head -c 76 '{0}'; }} | sha256sum",
            path.display()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.split_whitespace().next(), Some(digest.hex().as_str()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_flipped_byte_in_the_data_or_the_header_changes_the_digest() {
        let d = dir("flip");
        let digest = write_through_writer(&d, "c.wav", 20, 5);
        let path = d.join("c.wav");
        let good = std::fs::read(&path).unwrap();
        for at in [0, 63, 64, 72, 75, 76, 77, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            assert_ne!(of_file(&path).unwrap().0, digest, "byte {at}");
        }
        // A byte more or less is a change too.
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert_ne!(of_file(&path).unwrap().0, digest);
        std::fs::write(&path, [&good[..], &[0xD5]].concat()).unwrap();
        assert_ne!(of_file(&path).unwrap().0, digest);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            of_file(&path).map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A file that takes `room` bytes of appends, then writes a prefix of the append that
    /// goes past it and fails, as a full file system does.
    struct Torn {
        file: DirFile,
        room: u64,
        appended: u64,
    }

    impl RecordSink for Torn {
        fn append(&mut self, data: &[u8]) -> Result<(), StorageError> {
            let fits = self
                .room
                .saturating_sub(self.appended)
                .min(data.len() as u64) as usize;
            self.file.append(&data[..fits])?;
            self.appended += fits as u64;
            if fits < data.len() {
                return Err(StorageError::Full);
            }
            Ok(())
        }
        fn write_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<(), StorageError> {
            self.file.write_header(header)
        }
        fn sync(&mut self) -> Result<(), StorageError> {
            self.file.sync()
        }
        fn file_len(&self) -> Result<u64, StorageError> {
            self.file.file_len()
        }
        fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
            self.file.truncate(len)
        }
    }

    /// Writes `appends` (after the opening header) into a file with room for `room` bytes,
    /// salvages after the append that fails, and returns the digest and the bytes kept.
    fn salvaged(name: &str, room: u64, appends: &[&[u8]]) -> (Option<Digest>, Vec<u8>) {
        let d = dir(name);
        let path = d.join("d.wav");
        let mut storage = DirStorage::new(&d);
        let mut w = RecordWriter::new(Durability::SyncAtClose);
        let mut create = || {
            let file = storage.create_new("d.wav")?.unwrap();
            let torn = Torn {
                file,
                room,
                appended: 0,
            };
            Ok((Hashing::wrap(torn, path.clone()), "d.wav".to_owned()))
        };
        w.perform(FileOp::Open(header(0)), &mut create).unwrap();
        let mut failed = false;
        for a in appends {
            if w.perform(FileOp::Append(a), &mut create).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "the room runs out");
        let open = w.salvage().unwrap();
        let digest = open.file.digest();
        // Without reading the file: it is not there any more.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(open.file.digest(), digest, "computed, not read");
        let _ = std::fs::remove_dir_all(&d);
        (digest, bytes)
    }

    #[test]
    fn after_a_failed_write_the_digest_is_of_what_the_salvage_kept() {
        let frame = [0x11u8; 160];
        let two = [0x22u8; 320];
        // Half of the second append reached the disk: the salvage keeps its whole frame.
        let room = HEADER_LEN as u64 + 160 + 200;
        let (digest, bytes) = salvaged("prefix", room, &[&frame, &two]);
        assert_eq!(bytes.len(), HEADER_LEN + 320);
        assert_eq!(bytes[HEADER_LEN..][160..], [0x22; 160]);
        assert_eq!(digest, Some(by_definition(&bytes)));
        // An odd-sized packet, then a failure: the salvage cuts into what was appended.
        let odd = [0x33u8; 100];
        let room = HEADER_LEN as u64 + 160 + 100 + 50;
        let (digest, bytes) = salvaged("cut", room, &[&frame, &odd, &two]);
        // 310 bytes of data reached the disk: one whole frame stays, 100 appended bytes go.
        assert_eq!(bytes.len(), HEADER_LEN + 160);
        assert_eq!(digest, Some(by_definition(&bytes)));
        // Nothing of the data reached the disk: the header alone.
        let (digest, bytes) = salvaged("empty", HEADER_LEN as u64 + 10, &[&frame]);
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(digest, Some(by_definition(&bytes)));
    }

    #[test]
    fn hex_reads_back_and_nothing_else_does() {
        let d = Digest([0xAB; 32]);
        assert_eq!(d.hex(), "ab".repeat(32));
        assert_eq!(Digest::parse(&d.hex()), Some(d));
        assert_eq!(Digest::parse(&"AB".repeat(32)), Some(d));
        for bad in [
            "",
            "ab",
            &"ab".repeat(33),
            &format!("{}zz", "ab".repeat(31)),
        ] {
            assert_eq!(Digest::parse(bad), None, "{bad:?}");
        }
        // Multi-byte characters never reach the nibble decoding as bytes of a digit.
        assert_eq!(Digest::parse(&"é".repeat(32)), None);
    }
}
