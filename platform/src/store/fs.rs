//! The real stick: a directory on a mounted file system.

use super::{RecordSink, Storage, StorageError};
use callrec_core::record_file::HEADER_LEN;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A directory on the stick.
#[derive(Debug, Clone)]
pub struct DirStorage {
    dir: PathBuf,
}

impl DirStorage {
    pub fn new(dir: impl Into<PathBuf>) -> DirStorage {
        DirStorage { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Storage for DirStorage {
    type File = DirFile;

    fn create_new(&mut self, name: &str) -> Result<Option<DirFile>, StorageError> {
        let path = self.dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(file) => Ok(Some(DirFile { file, path })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(StorageError::from_io(&e)),
        }
    }

    fn free_bytes(&self) -> Result<u64, StorageError> {
        free_bytes(&self.dir)
    }
}

/// statvfs: bytes free for an unprivileged writer, and whether the file system is read-only.
pub fn free_bytes(dir: &Path) -> Result<u64, StorageError> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(|e| StorageError::from_io(&e.into()))?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

/// An open Record file on the stick.
#[derive(Debug)]
pub struct DirFile {
    file: File,
    path: PathBuf,
}

impl DirFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl RecordSink for DirFile {
    fn append(&mut self, data: &[u8]) -> Result<(), StorageError> {
        // Opened without O_APPEND (Linux pwrite would append there too): the file position
        // only moves with these writes, the header goes in with pwrite at offset 0.
        self.file
            .write_all(data)
            .map_err(|e| StorageError::from_io(&e))
    }

    fn write_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<(), StorageError> {
        self.file
            .write_all_at(header, 0)
            .map_err(|e| StorageError::from_io(&e))
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.file.sync_data().map_err(|e| StorageError::from_io(&e))
    }

    fn file_len(&self) -> Result<u64, StorageError> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| StorageError::from_io(&e))?
            .len())
    }

    fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.file
            .set_len(len)
            .map_err(|e| StorageError::from_io(&e))
    }
}
