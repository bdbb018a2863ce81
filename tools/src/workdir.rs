//! A temporary directory that is removed when dropped (unless kept), or when the tool is
//! interrupted by a signal ([`remove_on_signal`]).

use crate::error::{Context, ToolError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

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

    /// `path` itself (made if absent), removed when dropped like one made fresh: for a tool
    /// that is given its work directory.
    pub fn at(path: &Path) -> Result<Self, ToolError> {
        std::fs::create_dir_all(path).context(|| format!("making {}", path.display()))?;
        let path =
            std::fs::canonicalize(path).context(|| format!("resolving {}", path.display()))?;
        Ok(WorkDir { path, keep: false })
    }

    /// Under `$TMPDIR` (or `/tmp`).
    pub fn new(prefix: &str) -> Result<Self, ToolError> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// A benchmark's directory: `dir` if given, else a new one named after `prefix`; removed
    /// when dropped, and on SIGINT, SIGTERM or SIGHUP ([`remove_on_signal`]).
    pub fn for_run(dir: Option<&Path>, prefix: &str) -> Result<Self, ToolError> {
        let workdir = match dir {
            Some(dir) => WorkDir::at(dir)?,
            None => WorkDir::new(prefix)?,
        };
        remove_on_signal(workdir.path())?;
        Ok(workdir)
    }

    /// Leaves the directory in place when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The write end of the pipe the signal handler writes the signal's number to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let byte = signal as u8;
    // SAFETY: write is async-signal-safe; the descriptor is the pipe's, kept open for good.
    unsafe {
        libc::write(
            SIGNAL_PIPE.load(Ordering::Relaxed),
            (&byte as *const u8).cast(),
            1,
        )
    };
}

/// From now on, SIGINT, SIGTERM or SIGHUP removes `dir` and ends the tool with 128 + the
/// signal's number (130, 143, 129), instead of killing it with the directory left behind. The
/// handler only writes the signal's number to a pipe; a thread of its own reads it, removes
/// the directory and exits. Programs the tool starts get the default handling back when they
/// are executed, and die with the tool (`PR_SET_PDEATHSIG`, see [`crate::process`]).
pub fn remove_on_signal(dir: &Path) -> Result<(), ToolError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ToolError::setup(format!(
            "a pipe for signals: {}",
            std::io::Error::last_os_error()
        )));
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    let (read_end, dir) = (fds[0], dir.to_path_buf());
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut byte = 0u8;
            // SAFETY: read into the byte we own, from the pipe's read end, which stays open.
            let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                let _ = std::fs::remove_dir_all(&dir);
                std::process::exit(128 + i32::from(byte));
            }
        })
        .context(|| "starting the signal thread".to_string())?;
    crate::signals::handle(&crate::signals::TERMINATION, on_signal)
        .context(|| "handling SIGINT, SIGTERM and SIGHUP".to_string())?;
    Ok(())
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
