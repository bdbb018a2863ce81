//! One process per folder: a file held with flock(2) that names its holder's pid.
//!
//! The lock belongs to the open file, so it ends with the process however that ends (exit,
//! kill -9, a crash): a stale file never keeps the next one out, and nothing needs removing. The
//! file stays in place after use (removing it would let a second process lock a fresh file
//! while a third still holds the old one). The pid in it is for the message only: the kernel's
//! lock decides.

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The lock, held until dropped.
#[derive(Debug)]
pub struct PidLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl PidLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; `pid` is what its file says (`None` if it has not written it
    /// yet or it is not a number).
    Held { path: PathBuf, pid: Option<u32> },
    /// The file cannot be opened or locked.
    Io { path: PathBuf, error: io::Error },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held {
                path,
                pid: Some(pid),
            } => write!(f, "{} is held by process {pid}", path.display()),
            LockError::Held { path, pid: None } => {
                write!(f, "{} is held by another process", path.display())
            }
            LockError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

/// Takes the lock at `path` (creating the file) without waiting, and writes this process's pid
/// into it.
pub fn acquire(path: &Path) -> Result<PidLock, LockError> {
    let io_error = |error| LockError::Io {
        path: path.to_owned(),
        error,
    };
    // Not truncated on opening: the holder's pid must stay readable for the refusal.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map_err(io_error)?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(LockError::Held {
                path: path.to_owned(),
                pid,
            });
        }
        Err((_, errno)) => return Err(io_error(io::Error::from(errno))),
    };
    file.set_len(0).map_err(io_error)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(io_error)?;
    Ok(PidLock {
        _file: file,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = std::env::temp_dir().join(format!("callrec-pidlock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".lock");
        // A stale file from a process that is gone does not keep anyone out.
        std::fs::write(&path, "999999\n").unwrap();
        let first = acquire(&path).unwrap();
        let me = std::process::id();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        // flock belongs to the open file: a second open in this process is a second holder.
        match acquire(&path) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(me)),
            other => panic!("{other:?}"),
        }
        let e = acquire(&path).unwrap_err().to_string();
        assert!(e.ends_with(&format!("is held by process {me}")), "{e}");
        drop(first);
        let again = acquire(&path).unwrap();
        assert_eq!(again.path(), path);
        drop(again);
        // A folder that cannot hold the file is an I/O error naming it.
        let e = acquire(&dir.join("no/such/dir/.lock")).unwrap_err();
        assert!(matches!(e, LockError::Io { .. }), "{e:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
