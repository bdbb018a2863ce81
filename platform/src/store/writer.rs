//! The one executor of a recorder's file operations ([`FileOp`]), for the phone's stick and the
//! record server's storage alike, and the one place that says when a recording reaches the disk:
//!
//! - **Open**: a new file (named by the caller), the header first, with a plain write so the
//!   appends that follow start after it.
//! - **Append**: at the end of what was written.
//! - **Commit** (about once a second): the header rewritten in place, so the file is whole to
//!   that point; then, as the [`Durability`] says, synced to the device or left to the page cache.
//! - **Close**: the final header rewritten, and synced, always.
//! - **A failure**: [`RecordWriter::abandon`] cuts a torn last frame, makes the header agree with
//!   the whole frames that reached the file, syncs, and lets the file go; errors there are
//!   ignored (a later repair finds the file).

use super::{RecordSink, StorageError};
use callrec_core::record_file::{recover, Header, HEADER_LEN};
use callrec_core::writer::FileOp;

/// When a commit reaches the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is synced (fdatasync): a power cut loses at most the last second. The
    /// phone's stick, which loses power with the phone.
    SyncEveryCommit,
    /// Commits reach the page cache and the close syncs: a killed process loses nothing that
    /// was committed, a power cut of the machine may lose what the kernel had not written. The
    /// record server, where thousands of sessions syncing every second would cost more than
    /// the disk gives.
    SyncAtClose,
}

/// The file being written.
pub struct OpenRecord<F> {
    pub file: F,
    pub name: String,
    /// The header as last written.
    pub header: Header,
}

/// What a performed operation did, for the caller's lists and logs.
pub enum Done<F> {
    /// Bytes appended or the header committed.
    Wrote,
    /// A file was created; [`RecordWriter::current`] is it.
    Opened,
    /// The file was closed, synced and let go.
    Closed(OpenRecord<F>),
}

/// Carries out file operations on at most one open file. See the module doc.
pub struct RecordWriter<F> {
    open: Option<OpenRecord<F>>,
    durability: Durability,
}

impl<F: RecordSink> RecordWriter<F> {
    pub fn new(durability: Durability) -> RecordWriter<F> {
        RecordWriter {
            open: None,
            durability,
        }
    }

    /// The open file, if any.
    pub fn current(&self) -> Option<&OpenRecord<F>> {
        self.open.as_ref()
    }

    /// Performs `op`. For an open, `create` makes the next file and gives its name (an open
    /// over an open file lets the old one go without a final header: the recorder closes
    /// first, so this does not happen).
    pub fn perform(
        &mut self,
        op: FileOp<'_>,
        create: impl FnOnce() -> Result<(F, String), StorageError>,
    ) -> Result<Done<F>, StorageError> {
        match op {
            FileOp::Open(header) => {
                let (mut file, name) = create()?;
                file.append(&header.encode())?;
                self.open = Some(OpenRecord { file, name, header });
                Ok(Done::Opened)
            }
            FileOp::Append(bytes) => {
                self.file()?.file.append(bytes)?;
                Ok(Done::Wrote)
            }
            FileOp::Commit(header) => {
                let sync = self.durability == Durability::SyncEveryCommit;
                let open = self.file()?;
                open.header = header;
                open.file.write_header(&header.encode())?;
                if sync {
                    open.file.sync()?;
                }
                Ok(Done::Wrote)
            }
            FileOp::Close(header) => {
                let open = self.file()?;
                open.header = header;
                open.file.write_header(&header.encode())?;
                open.file.sync()?;
                let open = self.open.take().ok_or(StorageError::Gone)?;
                Ok(Done::Closed(open))
            }
        }
    }

    fn file(&mut self) -> Result<&mut OpenRecord<F>, StorageError> {
        self.open.as_mut().ok_or(StorageError::Gone)
    }

    /// After a failure: keeps what reached the open file readable, if the storage still lets
    /// it, and lets the file go. Returns the file's name and the header it now has, if the
    /// salvage worked.
    pub fn abandon(&mut self) -> Option<(String, Header)> {
        self.salvage().map(|open| (open.name, open.header))
    }

    /// As [`RecordWriter::abandon`], but hands back the file itself (its name, the header it
    /// now has, and the sink, for a caller that wraps it).
    pub fn salvage(&mut self) -> Option<OpenRecord<F>> {
        let mut open = self.open.take()?;
        let len = open.file.file_len().ok()?;
        let recovered = recover(open.header, len);
        let whole = HEADER_LEN as u64 + u64::from(recovered.header.data_size);
        open.file
            .truncate(whole)
            .and_then(|()| open.file.write_header(&recovered.header.encode()))
            .and_then(|()| open.file.sync())
            .ok()?;
        open.header = recovered.header;
        Some(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::faulty::{FaultPlan, Faults, FaultyStorage};
    use crate::store::fs::DirStorage;
    use crate::store::Storage;
    use callrec_core::codec::Codec;

    fn header(data_size: u32) -> Header {
        Header {
            codec: Codec::Pcma,
            rtp_len: 160,
            increment: 160,
            data_size,
        }
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("callrec-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Opens, appends two frames, commits, appends one, closes; the syncs after each step.
    fn syncs_of(durability: Durability, name: &str) -> Vec<u64> {
        let d = dir(name);
        let faults = Faults::new(FaultPlan::default());
        let mut storage = FaultyStorage::new(DirStorage::new(&d), faults.clone());
        let mut w = RecordWriter::new(durability);
        let mut create = || Ok((storage.create_new("a.wav")?.unwrap(), "a.wav".to_owned()));
        let mut syncs = Vec::new();
        let frame = [0xD5u8; 160];
        let ops = [
            FileOp::Open(header(0)),
            FileOp::Append(&frame),
            FileOp::Append(&frame),
            FileOp::Commit(header(320)),
            FileOp::Append(&frame),
            FileOp::Close(header(480)),
        ];
        for op in ops {
            let done = w.perform(op, &mut create).unwrap();
            if let Done::Closed(rec) = done {
                assert_eq!((rec.name.as_str(), rec.header), ("a.wav", header(480)));
            }
            syncs.push(faults.plan().syncs);
        }
        assert!(w.current().is_none());
        let bytes = std::fs::read(d.join("a.wav")).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 480);
        assert_eq!(bytes[..HEADER_LEN], header(480).encode());
        let _ = std::fs::remove_dir_all(&d);
        syncs
    }

    #[test]
    fn the_stick_syncs_every_commit_and_the_server_at_the_close() {
        assert_eq!(
            syncs_of(Durability::SyncEveryCommit, "every"),
            [0, 0, 0, 1, 1, 2]
        );
        assert_eq!(
            syncs_of(Durability::SyncAtClose, "close"),
            [0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn a_failure_keeps_the_whole_frames_under_a_header_that_agrees() {
        let d = dir("torn");
        // Room for the header and one and a half frames.
        let faults = Faults::new(FaultPlan {
            fail_after: Some((HEADER_LEN as u64 + 240, StorageError::Io(5))),
            ..FaultPlan::default()
        });
        let mut storage = FaultyStorage::new(DirStorage::new(&d), faults.clone());
        let mut w = RecordWriter::new(Durability::SyncEveryCommit);
        let mut create = || Ok((storage.create_new("b.wav")?.unwrap(), "b.wav".to_owned()));
        let frame = [0xD5u8; 160];
        w.perform(FileOp::Open(header(0)), &mut create).unwrap();
        w.perform(FileOp::Append(&frame), &mut create).unwrap();
        let err = w.perform(FileOp::Append(&frame), &mut create).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(StorageError::Io(5).to_string())
        );
        // The fault is the storage's; salvage needs it gone (the stick came back).
        faults.plan().fail_after = None;
        let (name, kept) = w.abandon().unwrap();
        assert_eq!((name.as_str(), kept.data_size), ("b.wav", 160));
        assert!(w.current().is_none());
        let bytes = std::fs::read(d.join("b.wav")).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 160);
        assert_eq!(bytes[..HEADER_LEN], header(160).encode());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn operations_with_no_open_file_fail_as_gone() {
        let mut w: RecordWriter<crate::store::fs::DirFile> =
            RecordWriter::new(Durability::SyncAtClose);
        let never = || -> Result<(crate::store::fs::DirFile, String), StorageError> {
            unreachable!("only an open creates")
        };
        assert!(matches!(
            w.perform(FileOp::Append(b"x"), never),
            Err(StorageError::Gone)
        ));
        assert!(matches!(
            w.perform(FileOp::Commit(header(0)), never),
            Err(StorageError::Gone)
        ));
        assert!(w.abandon().is_none());
    }
}
