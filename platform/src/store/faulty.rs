//! A stick that misbehaves on purpose: fills up, fails with EIO, turns read-only or vanishes
//! after a given number of bytes. Wraps a real [`Storage`] so the bytes that do get written are
//! real files a test can read back.

use super::{RecordSink, Storage, StorageError};
use callrec_core::record_file::HEADER_LEN;
use std::sync::{Arc, Mutex, MutexGuard};

/// What goes wrong, and when. Shared between the storage, its files and the test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// After this many bytes written in total, writes fail with this error.
    pub fail_after: Option<(u64, StorageError)>,
    /// Bytes the stick holds in all (free space reported = capacity − written).
    pub capacity: Option<u64>,
    /// Bytes written so far through this storage (appends and headers).
    pub written: u64,
    /// Syncs so far.
    pub syncs: u64,
}

/// A handle the test keeps to change the plan mid-recording.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultPlan>>);

impl Faults {
    pub fn new(plan: FaultPlan) -> Faults {
        Faults(Arc::new(Mutex::new(plan)))
    }

    pub fn plan(&self) -> MutexGuard<'_, FaultPlan> {
        // A poisoned lock means a test thread panicked; the plan itself is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn charge(&self, bytes: usize) -> Result<(), StorageError> {
        let mut plan = self.plan();
        if let Some((after, err)) = plan.fail_after {
            if plan.written + bytes as u64 > after {
                return Err(err);
            }
        }
        if let Some(cap) = plan.capacity {
            if plan.written + bytes as u64 > cap {
                return Err(StorageError::Full);
            }
        }
        plan.written += bytes as u64;
        Ok(())
    }
}

/// [`Storage`] with faults injected.
#[derive(Debug)]
pub struct FaultyStorage<S> {
    inner: S,
    faults: Faults,
}

impl<S> FaultyStorage<S> {
    pub fn new(inner: S, faults: Faults) -> Self {
        FaultyStorage { inner, faults }
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    type File = FaultyFile<S::File>;

    fn create_new(&mut self, name: &str) -> Result<Option<Self::File>, StorageError> {
        self.faults.charge(0)?;
        let file = self.inner.create_new(name)?;
        Ok(file.map(|inner| FaultyFile {
            inner,
            faults: self.faults.clone(),
        }))
    }

    fn free_bytes(&self) -> Result<u64, StorageError> {
        let real = self.inner.free_bytes()?;
        let plan = self.faults.plan();
        Ok(match plan.capacity {
            Some(cap) => real.min(cap.saturating_sub(plan.written)),
            None => real,
        })
    }
}

/// A file on a [`FaultyStorage`].
#[derive(Debug)]
pub struct FaultyFile<F> {
    inner: F,
    faults: Faults,
}

impl<F: RecordSink> RecordSink for FaultyFile<F> {
    fn append(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.faults.charge(data.len())?;
        self.inner.append(data)
    }

    fn write_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<(), StorageError> {
        self.faults.charge(HEADER_LEN)?;
        self.inner.write_header(header)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.faults.charge(0)?;
        self.faults.plan().syncs += 1;
        self.inner.sync()
    }

    fn file_len(&self) -> Result<u64, StorageError> {
        self.inner.file_len()
    }

    fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.faults.charge(0)?;
        self.inner.truncate(len)
    }
}
