//! What the report says of the machine and the build: the kernel, the CPUs, ffmpeg's version,
//! the file system under the work directory, the open-file limit and callrec's commit.

use std::path::Path;
use std::process::{Command, Stdio};

fn stdout(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sysname release machine` of uname(2).
pub fn uname() -> String {
    // SAFETY: uname fills the zeroed struct we own.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "?".into();
        }
        u
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

/// CPUs online.
pub fn cpus() -> i64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }
}

/// The first three words of `ffmpeg -version` ("ffmpeg version 5.1.9-0+deb12u1").
pub fn ffmpeg_version() -> String {
    stdout(Command::new("ffmpeg").arg("-version")).map_or("ffmpeg absent".into(), |v| {
        v.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    })
}

/// The commit the binaries were built from, and whether the working tree differed.
pub fn git_version() -> String {
    let Some(head) = stdout(Command::new("git").args(["rev-parse", "--short", "HEAD"])) else {
        return "?".into();
    };
    let dirty = stdout(Command::new("git").args(["status", "--porcelain", "--untracked-files=no"]))
        .is_some_and(|s| !s.trim().is_empty());
    format!(
        "{}{}",
        head.trim(),
        if dirty { " with local changes" } else { "" }
    )
}

/// The type and device of the file system `path` is on, from a mounts table: the longest
/// mount point that holds it (the last of equal ones).
pub fn fs_type_in(mounts: &str, path: &Path) -> String {
    let path = format!("{}/", path.display());
    let mut best = ("", "?", "?");
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dev, mount, kind, ..] = f[..] else {
            continue;
        };
        if path.starts_with(&format!("{}/", mount.trim_end_matches('/')))
            && mount.len() >= best.0.len()
        {
            best = (mount, kind, dev);
        }
    }
    format!("{} ({})", best.1, best.2)
}

pub fn fs_type(path: &Path) -> String {
    fs_type_in(
        &std::fs::read_to_string("/proc/self/mounts").unwrap_or_default(),
        path,
    )
}

/// The report's last line.
pub fn line(workdir: &Path, nofile: u64) -> String {
    format!(
        "Host: {}, {} CPU(s); {}; storage $TMP on {}; open files {nofile}; callrec {}.",
        uname(),
        cpus(),
        ffmpeg_version(),
        fs_type(workdir),
        git_version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_mount_holding_the_path_is_its_file_system() {
        let mounts = "\
/dev/vda / ext4 rw 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/vdb /work xfs rw 0 0
/dev/vdc /workspace ext4 rw 0 0
";
        assert_eq!(
            fs_type_in(mounts, Path::new("/work/main/target/x")),
            "xfs (/dev/vdb)"
        );
        assert_eq!(fs_type_in(mounts, Path::new("/home/u")), "ext4 (/dev/vda)");
        assert_eq!(fs_type_in("", Path::new("/x")), "? (?)");
    }
}
