//! A temporary directory that is removed when dropped (unless kept).

use crate::error::{Context, ToolError};
use std::path::{Path, PathBuf};

/// A directory made fresh under a parent (`$TMPDIR` or `/tmp` by default) with a unique name.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// Makes `PARENT/PREFIX.PID.N` with the first N that does not exist yet.
    pub fn new_in(parent: &Path, prefix: &str) -> Result<Self, ToolError> {
        std::fs::create_dir_all(parent).context(|| format!("making {}", parent.display()))?;
        for n in 0..1000 {
            let path = parent.join(format!("{prefix}.{}.{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(WorkDir { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ToolError::setup(format!("making {}: {e}", path.display()))),
            }
        }
        Err(ToolError::setup(format!(
            "no free name for {prefix} in {}",
            parent.display()
        )))
    }

    /// Under `$TMPDIR` (or `/tmp`).
    pub fn new(prefix: &str) -> Result<Self, ToolError> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// Leaves the directory in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
