//! The stick as storage: a narrow trait, the real directory, a fault-injecting fake, and the
//! reader and repair of Record files, and the one executor of the recorder's file operations
//! ([`writer`]).

pub mod faulty;
pub mod fs;
pub mod reader;
pub mod repair;
pub mod writer;

use callrec_core::record_file::HEADER_LEN;
use callrec_core::recorder::StopReason;
use core::fmt;
use std::io;

/// What went wrong on the stick, sorted by what the user must do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageError {
    /// No room (ENOSPC, EDQUOT, EFBIG).
    Full,
    /// The file system refuses writes (EROFS, EACCES, EPERM).
    ReadOnly,
    /// The stick or directory is gone (ENOENT, ENODEV, ENXIO, ESTALE, ENOTDIR).
    Gone,
    /// Every `Record_` name for this second is taken.
    NamesExhausted,
    /// Any other I/O error (EIO after a yank, …), with its errno.
    Io(i32),
}

impl StorageError {
    pub fn from_io(e: &io::Error) -> StorageError {
        match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => StorageError::Full,
            Some(libc::EROFS | libc::EACCES | libc::EPERM) => StorageError::ReadOnly,
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO | libc::ESTALE | libc::ENOTDIR) => {
                StorageError::Gone
            }
            Some(errno) => StorageError::Io(errno),
            None => StorageError::Io(libc::EIO),
        }
    }

    /// The reason a recording stops when this happens.
    pub fn stop_reason(self) -> StopReason {
        match self {
            StorageError::Full | StorageError::NamesExhausted => StopReason::StickFull,
            StorageError::ReadOnly => StopReason::StickReadOnly,
            StorageError::Gone => StopReason::StickRemoved,
            StorageError::Io(_) => StopReason::WriteError,
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Full => f.write_str("the stick is full"),
            StorageError::ReadOnly => f.write_str("the stick is read-only"),
            StorageError::Gone => f.write_str("the stick is gone"),
            StorageError::NamesExhausted => f.write_str("no free Record_ file name"),
            StorageError::Io(errno) => {
                write!(f, "I/O error: {}", io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

impl std::error::Error for StorageError {}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        StorageError::from_io(&e)
    }
}

/// Where recordings are written: the stick's directory.
pub trait Storage {
    type File: RecordSink;
    /// Creates a new file; `Ok(None)` if the name is taken.
    fn create_new(&mut self, name: &str) -> Result<Option<Self::File>, StorageError>;
    /// Bytes free for an unprivileged writer (statvfs `f_bavail * f_frsize`).
    fn free_bytes(&self) -> Result<u64, StorageError>;
}

/// One open Record file.
pub trait RecordSink {
    /// Appends at the end of what was written.
    fn append(&mut self, data: &[u8]) -> Result<(), StorageError>;
    /// Rewrites the header in place (offset 0), leaving the append position alone.
    fn write_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<(), StorageError>;
    /// Flushes the data to the device (fdatasync).
    fn sync(&mut self) -> Result<(), StorageError>;
    /// Bytes in the file as the file system sees it, for salvage after a failure.
    fn file_len(&self) -> Result<u64, StorageError>;
    /// Cuts the file to `len` bytes (a torn last frame after a failed write).
    fn truncate(&mut self, len: u64) -> Result<(), StorageError>;
}
