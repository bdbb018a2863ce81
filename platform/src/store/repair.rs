//! Repairs Record files whose header lagged behind the data (a kill -9 or a power cut): the
//! last partial frame is padded with silence and the header made to agree with the data.

use super::reader::{ReadError, RecordReader};
use callrec_core::record_file::{is_record_name, Header, HEADER_LEN};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What a repair changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub path: PathBuf,
    /// `dataSize` in the header before.
    pub before: u32,
    /// `dataSize` now: every byte that reached the disk, in whole frames.
    pub after: u32,
}

/// Repairs one file if its header is stale; `Ok(None)` if it was fine.
pub fn repair_file(path: &Path) -> Result<Option<Repair>, ReadError> {
    let reader = RecordReader::open(path)?;
    if !reader.stale() {
        return Ok(None);
    }
    let header = reader.header();
    let frame = u64::from(header.rtp_len);
    let on_disk = reader.file_len().saturating_sub(HEADER_LEN as u64);
    let claimed = u64::from(reader.header_data_size());
    // Keep every byte on disk; pad a partial last frame. Never trust a claim past the end.
    let data = on_disk.div_ceil(frame) * frame;
    let data = data.min(u64::from(u32::MAX) / frame * frame);
    let file = OpenOptions::new().write(true).open(path)?;
    if data > on_disk {
        let pad = vec![header.codec.silence_byte(); (data - on_disk) as usize];
        file.write_all_at(&pad, HEADER_LEN as u64 + on_disk)?;
    }
    file.set_len(HEADER_LEN as u64 + data)?;
    let fixed = Header {
        data_size: data as u32,
        ..header
    };
    file.write_all_at(&fixed.encode(), 0)?;
    file.sync_all()?;
    Ok(Some(Repair {
        path: path.to_owned(),
        before: claimed as u32,
        after: data as u32,
    }))
}

/// The outcome for each file of a directory.
pub type DirReport = Vec<(PathBuf, Result<Option<Repair>, ReadError>)>;

/// Repairs every `Record_…` file in `dir`. Files that are not Record files are left alone and
/// reported; one bad file never stops the others.
pub fn repair_dir(dir: &Path) -> io::Result<DirReport> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_record_name(name) || !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let result = repair_file(&path);
        out.push((path, result));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Logs what a repair did (nothing when the file was fine).
pub fn log_outcome(path: &Path, result: &Result<Option<Repair>, ReadError>) {
    match result {
        Ok(Some(fix)) => log::warn!(
            "repaired {}: dataSize {} -> {}",
            path.display(),
            fix.before,
            fix.after
        ),
        Ok(None) => {}
        Err(e) => log::warn!("cannot repair {}: {e}", path.display()),
    }
}
