//! USB stick detection: where the stick the recorder writes to is, and when it comes and goes.
//!
//! The pure part ([`find_in_mountinfo`], [`glob_match`]) reads the text of
//! `/proc/self/mountinfo` and touches nothing else. [`probe`] reads the current state once;
//! [`StickWatcher`] is the thin tokio driver that re-probes when something may have changed:
//!
//! - [`StickSource::Mounts`] (a phone): the kernel flags `/proc/self/mountinfo` with
//!   `POLLPRI | POLLERR` whenever the mount table of the namespace changes, so insertion and
//!   removal are seen as soon as the automounter acts. A rescan every second is the safety net
//!   for a missed event.
//! - [`StickSource::Directory`] (the host board and tests): a directory offers no cheap event, so
//!   it is re-probed every 250 ms.
//!
//! Nothing read from `/proc` or the file system can make this module panic: unreadable state
//! is an [`io::Error`] or "no stick".

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ticker::Ticker;
use log::{debug, info, warn};
use nix::sys::statvfs::{statvfs, FsFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The mount table of this process's mount namespace.
pub const MOUNTINFO_PATH: &str = "/proc/self/mountinfo";

/// Largest mount table read. A phone has a few dozen mounts (a few KiB); a bigger table is
/// refused with [`io::ErrorKind::InvalidData`] rather than grown into memory.
pub const MAX_MOUNTINFO_BYTES: usize = 1 << 20;

/// How often a [`StickSource::Mounts`] watcher rescans in case a mount event was missed.
pub const MOUNTS_RESCAN_PERIOD: Duration = Duration::from_secs(1);

/// How often a [`StickSource::Directory`] watcher looks at its directory.
pub const DIRECTORY_POLL_PERIOD: Duration = Duration::from_millis(500);

/// `fs_type` of a stick found through [`StickSource::Directory`].
pub const DIRECTORY_FS_TYPE: &str = "dir";

/// Where the board says sticks appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickSource {
    /// On a phone: mount points matching these glob patterns (only `*` and `?` wildcards, e.g.
    /// `"/mnt/usb*"`, `"/media/*"`), found in `/proc/self/mountinfo`.
    Mounts { patterns: Vec<String> },
    /// On the host board (a PC) and in tests: a plain directory stands for the stick; present
    /// while it exists and is a directory.
    Directory(PathBuf),
}

/// A stick that is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stick {
    /// Where to write.
    pub path: PathBuf,
    /// From the mount options (`ro` in the per-mount or the super options) or, for a directory,
    /// `ST_RDONLY` in its statvfs flags.
    pub read_only: bool,
    /// The file system type, e.g. `"vfat"`, `"tmpfs"`; [`DIRECTORY_FS_TYPE`] for a directory.
    pub fs_type: String,
    /// The mountinfo "mount source" (e.g. `/dev/sda1`), or the directory's path.
    pub device: String,
    /// The mountinfo mount id; for a directory its inode number, so that a removed and recreated
    /// directory is a new stick.
    pub mount_id: u64,
}

/// Finds the stick in the text of `/proc/self/mountinfo`: the last mount (the most recently
/// mounted) whose mount point matches one of `patterns`. Malformed lines are skipped; never
/// panics.
pub fn find_in_mountinfo(mountinfo: &str, patterns: &[String]) -> Option<Stick> {
    find_in_mountinfo_bytes(mountinfo.as_bytes(), patterns)
}

/// [`find_in_mountinfo`] on raw bytes: the kernel prints file names as they are, so the table
/// need not be UTF-8.
pub fn find_in_mountinfo_bytes(mountinfo: &[u8], patterns: &[String]) -> Option<Stick> {
    let mut found = None;
    for line in mountinfo.split(|&b| b == b'\n') {
        let Some(entry) = MountEntry::parse(line) else {
            continue;
        };
        let mount_point = unescape(entry.mount_point);
        let for_matching = String::from_utf8_lossy(&mount_point);
        if patterns.iter().any(|p| glob_match(p, &for_matching)) {
            found = Some(entry);
        }
    }
    found.map(MountEntry::to_stick)
}

/// Glob match of a whole path with `*` (any run of characters) and `?` (one character). Neither
/// matches `/`, so `"/media/*"` matches `"/media/sda1"` but not `"/media/a/b"`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    // As no wildcard crosses '/', the pattern and the path must have the same '/'-separated
    // components and each component matches on its own.
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return true,
            (Some(p), Some(t)) if component_match(p.as_bytes(), t.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// Reads the current state once (blocking, cheap).
pub fn probe(source: &StickSource) -> Option<Stick> {
    match source {
        StickSource::Mounts { patterns } => {
            let mut buf = Vec::new();
            match File::open(MOUNTINFO_PATH).and_then(|f| read_table(&f, &mut buf)) {
                Ok(()) => find_in_mountinfo_bytes(&buf, patterns),
                Err(e) => {
                    warn!("usb: cannot read {MOUNTINFO_PATH}: {e}");
                    None
                }
            }
        }
        StickSource::Directory(dir) => probe_directory(dir),
    }
}

/// Watches a [`StickSource`] for the stick coming, going or changing.
#[derive(Debug)]
pub struct StickWatcher {
    current: Option<Stick>,
    tick: Ticker,
    kind: WatchKind,
}

#[derive(Debug)]
enum WatchKind {
    Mounts {
        patterns: Vec<String>,
        table: MountTable,
        /// Reused for every read of the table; at most [`MAX_MOUNTINFO_BYTES`] + 1.
        buf: Vec<u8>,
    },
    Directory(PathBuf),
}

/// The open mount table: registered with the reactor for `POLLPRI`, or, if that failed, a plain
/// file that is only rescanned on the timer.
#[derive(Debug)]
enum MountTable {
    Events(AsyncFd<File>),
    Plain(File),
}

impl StickWatcher {
    /// Starts watching `source` and reads its current state.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O and time enabled (as tokio itself does).
    pub fn new(source: StickSource) -> io::Result<StickWatcher> {
        let period = match source {
            StickSource::Mounts { .. } => MOUNTS_RESCAN_PERIOD,
            StickSource::Directory(_) => DIRECTORY_POLL_PERIOD,
        };
        Self::with_rescan_period(source, period)
    }

    /// [`StickWatcher::new`] with another rescan period (tests use a long one to prove that mount
    /// events alone are enough).
    pub fn with_rescan_period(source: StickSource, period: Duration) -> io::Result<StickWatcher> {
        let (kind, current) = match source {
            StickSource::Mounts { patterns } => {
                let file = File::open(MOUNTINFO_PATH)?;
                let mut buf = Vec::new();
                read_table(&file, &mut buf)?;
                let current = find_in_mountinfo_bytes(&buf, &patterns);
                // SAFETY: a `File` owns its descriptor and always returns that same one from
                // `as_raw_fd`; the `AsyncFd` owns the `File` (nothing else can close it) until
                // it is dropped.
                let registered =
                    unsafe { AsyncFd::register_with_interest(file, Interest::PRIORITY) };
                let table = match registered {
                    Ok(fd) => MountTable::Events(fd),
                    Err(e) => {
                        let (file, e) = e.into_parts();
                        warn!("usb: no mount events ({e}); rescanning every {period:?}");
                        MountTable::Plain(file)
                    }
                };
                let kind = WatchKind::Mounts {
                    patterns,
                    table,
                    buf,
                };
                (kind, current)
            }
            StickSource::Directory(dir) => {
                let current = probe_directory(&dir);
                (WatchKind::Directory(dir), current)
            }
        };
        // The state was just read: the first rescan is one period away.
        let tick = Ticker::new(period, period)?;
        match &current {
            Some(stick) => info!("usb: stick at {}", describe(stick)),
            None => info!("usb: no stick"),
        }
        Ok(StickWatcher {
            current,
            tick,
            kind,
        })
    }

    /// True when a mounts watcher is woken by the kernel's mount-table events (not only by its
    /// rescan timer).
    pub fn has_mount_events(&self) -> bool {
        matches!(
            self.kind,
            WatchKind::Mounts {
                table: MountTable::Events(_),
                ..
            }
        )
    }

    /// The stick as last seen.
    pub fn current(&self) -> Option<&Stick> {
        self.current.as_ref()
    }

    /// Resolves when the stick appears, disappears or changes (another mount id, a ro/rw change);
    /// returns the new state, which is also [`StickWatcher::current`] from then on.
    ///
    /// Cancel safe: dropping the future before it resolves loses no change.
    pub async fn changed(&mut self) -> Option<Stick> {
        loop {
            let Some(probed) = self.next_probe().await else {
                continue;
            };
            if probed != self.current {
                match &probed {
                    Some(stick) => info!("usb: stick at {}", describe(stick)),
                    None => info!("usb: stick gone"),
                }
                self.current.clone_from(&probed);
                return probed;
            }
        }
    }

    /// Waits for the next event or tick and probes; `None` if the state could not be read.
    async fn next_probe(&mut self) -> Option<Option<Stick>> {
        match &mut self.kind {
            WatchKind::Directory(dir) => {
                self.tick.tick().await;
                Some(probe_directory(dir))
            }
            WatchKind::Mounts {
                patterns,
                table,
                buf,
            } => {
                let read = match &*table {
                    MountTable::Events(fd) => {
                        tokio::select! {
                            ready = fd.ready(Interest::PRIORITY) => match ready {
                                Ok(mut guard) => {
                                    // Re-reading the table re-arms the event; clearing only
                                    // afterwards keeps a change made meanwhile.
                                    let read = read_table(guard.get_inner(), buf);
                                    guard.clear_ready();
                                    read
                                }
                                Err(e) => Err(e),
                            },
                            _ = self.tick.tick() => read_table(fd.get_ref(), buf),
                        }
                    }
                    MountTable::Plain(file) => {
                        self.tick.tick().await;
                        read_table(file, buf)
                    }
                };
                match read {
                    Ok(()) => Some(find_in_mountinfo_bytes(buf, patterns)),
                    Err(e) => {
                        warn!("usb: cannot read {MOUNTINFO_PATH}: {e}");
                        // Wait for the next tick rather than spin on a table that keeps failing.
                        self.tick.tick().await;
                        None
                    }
                }
            }
        }
    }
}

/// One line of mountinfo, fields still escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MountEntry<'a> {
    mount_id: u64,
    mount_point: &'a [u8],
    options: &'a [u8],
    fs_type: &'a [u8],
    source: &'a [u8],
    super_options: &'a [u8],
}

impl<'a> MountEntry<'a> {
    /// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`;
    /// `None` for anything else.
    fn parse(line: &'a [u8]) -> Option<MountEntry<'a>> {
        let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
        let mount_id = parse_u64(fields.next()?)?;
        parse_u64(fields.next()?)?; // parent id
        let dev = fields.next()?;
        if !dev.contains(&b':') {
            return None;
        }
        let _root = fields.next()?;
        let mount_point = fields.next()?;
        let options = fields.next()?;
        // Optional fields (`shared:1`, `master:2`, ...) up to a lone "-".
        fields.by_ref().find(|f| *f == b"-")?;
        let fs_type = fields.next()?;
        let source = fields.next()?;
        let super_options = fields.next().unwrap_or_default();
        Some(MountEntry {
            mount_id,
            mount_point,
            options,
            fs_type,
            source,
            super_options,
        })
    }

    fn to_stick(self) -> Stick {
        let path = PathBuf::from(OsStr::from_bytes(&unescape(self.mount_point)));
        Stick {
            path,
            read_only: has_option(self.options, b"ro") || has_option(self.super_options, b"ro"),
            fs_type: String::from_utf8_lossy(&unescape(self.fs_type)).into_owned(),
            device: String::from_utf8_lossy(&unescape(self.source)).into_owned(),
            mount_id: self.mount_id,
        }
    }
}

/// Decimal digits only (no sign, no blanks), without overflow.
fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn has_option(options: &[u8], wanted: &[u8]) -> bool {
    options.split(|&b| b == b',').any(|o| o == wanted)
}

/// Decodes the kernel's `\ooo` octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash). A backslash not followed by three octal digits stays as it is. Borrows unless
/// there is a backslash.
fn unescape(field: &[u8]) -> Cow<'_, [u8]> {
    if !field.contains(&b'\\') {
        return Cow::Borrowed(field);
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if let Some(byte) = octal_escape(&field[i..]) {
            out.push(byte);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// The byte of a `\ooo` escape at the start of `s`, if there is one that fits a byte.
fn octal_escape(s: &[u8]) -> Option<u8> {
    match s {
        [b'\\', a, b, c, ..] => {
            let digit = |d: u8| d.checked_sub(b'0').filter(|v| *v < 8).map(u32::from);
            let value = digit(*a)? * 64 + digit(*b)? * 8 + digit(*c)?;
            u8::try_from(value).ok()
        }
        _ => None,
    }
}

/// Matches one '/'-free component; `?` takes one UTF-8 character, `*` any run of them.
fn component_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last `*` seen: where the pattern resumes and where the text it covers ends.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some(b'?') => {
                p += 1;
                t += char_len(text, t);
                continue;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last `*` take one more character, or fail.
        let Some((resume, covered)) = star else {
            return false;
        };
        let covered = covered + char_len(text, covered);
        star = Some((resume, covered));
        p = resume;
        t = covered;
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

/// Length of the UTF-8 character starting at `text[i]`, at least 1 and never past the end.
fn char_len(text: &[u8], i: usize) -> usize {
    let len = match text.get(i) {
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => 1,
    };
    len.min(text.len().saturating_sub(i)).max(1)
}

/// Reads the whole mount table from the start of `file` into `buf`, refusing more than
/// [`MAX_MOUNTINFO_BYTES`]. Reading it also re-arms its `POLLPRI` event.
fn read_table(mut file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    file.seek(SeekFrom::Start(0))?;
    file.take(MAX_MOUNTINFO_BYTES as u64 + 1).read_to_end(buf)?;
    if buf.len() > MAX_MOUNTINFO_BYTES {
        buf.clear();
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("mount table larger than {MAX_MOUNTINFO_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn probe_directory(dir: &Path) -> Option<Stick> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => meta,
        Ok(_) => {
            debug!("usb: {} is not a directory", dir.display());
            return None;
        }
        Err(e) => {
            debug!("usb: {}: {e}", dir.display());
            return None;
        }
    };
    let read_only = match statvfs(dir) {
        Ok(st) => st.flags().contains(FsFlags::ST_RDONLY),
        // Gone between the two calls.
        Err(e) => {
            debug!("usb: statvfs {}: {e}", dir.display());
            return None;
        }
    };
    Some(Stick {
        path: dir.to_path_buf(),
        read_only,
        fs_type: DIRECTORY_FS_TYPE.to_owned(),
        device: dir.display().to_string(),
        mount_id: meta.ino(),
    })
}

fn describe(stick: &Stick) -> String {
    format!(
        "{} ({} on {}, {}, mount {})",
        stick.path.display(),
        stick.fs_type,
        stick.device,
        if stick.read_only { "ro" } else { "rw" },
        stick.mount_id
    )
}

#[cfg(test)]
mod tests;
