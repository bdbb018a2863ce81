//! Random numbers from the kernel. [`fill`] and [`try_u64`] are for secrets and whatever must be
//! unpredictable (session and CSRF tokens, salts, the record server's RTP ports): getrandom(2),
//! else `/dev/urandom` (kernels before 3.17 have no getrandom), else an error, and the caller
//! refuses rather than guess. [`nonsecret_u64`] never fails, for ids and SIP branches only.

use std::io::{self, Read};
use std::path::Path;

/// The kernel's CSPRNG as a device, for kernels without getrandom(2).
const URANDOM: &str = "/dev/urandom";
/// Whether getrandom failed once already (said once, at warn).
static FELL_BACK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Fills `buf` from the kernel's CSPRNG (blocking only until it is seeded at boot): getrandom(2),
/// retried on EINTR and after a short read; if the kernel has no getrandom (ENOSYS) or refuses
/// it (a seccomp filter: EPERM), `/dev/urandom`. An error if neither gives: fail closed.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    fill_from(buf, getrandom, Path::new(URANDOM))
}

fn getrandom(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: getrandom writes at most buf.len() bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// [`fill`] with its sources given (the tests give failing ones).
fn fill_from(
    buf: &mut [u8],
    mut getrandom: impl FnMut(&mut [u8]) -> io::Result<usize>,
    device: &Path,
) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match getrandom(&mut buf[at..]) {
            // A short read is no error: the rest is asked for again.
            Ok(n) => at += n.min(buf.len() - at),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if !FELL_BACK.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    log::warn!(
                        "random: getrandom: {e}; reading {} instead",
                        device.display()
                    );
                }
                return from_device(&mut buf[at..], device).map_err(|d| {
                    io::Error::new(
                        d.kind(),
                        format!(
                            "no random numbers from the kernel: getrandom: {e}; {}: {d}",
                            device.display()
                        ),
                    )
                });
            }
        }
    }
    Ok(())
}

/// Fills `buf` from the character device `path` (a file of another kind is refused: a stick or
/// a bind mount could put anything there).
fn from_device(buf: &mut [u8], path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let mut f = std::fs::File::open(path)?;
    if !f.metadata()?.file_type().is_char_device() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a character device",
        ));
    }
    f.read_exact(buf)
}

/// 64 bits from the kernel's CSPRNG, or an error ([`fill`]).
pub fn try_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// `n` bytes from the kernel's CSPRNG as 2n lowercase hex digits, or an error ([`fill`]).
pub fn secret_hex<const N: usize>() -> io::Result<String> {
    use std::fmt::Write;
    let mut b = [0u8; N];
    fill(&mut b)?;
    let mut out = String::with_capacity(2 * N);
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
    Ok(out)
}

/// 64 bits for an id or a SIP branch, never a secret: from the kernel's CSPRNG, or if it has
/// none to give, the time and the pid (unique enough for ids on one phone, and predictable).
pub fn nonsecret_u64() -> u64 {
    if let Ok(r) = try_u64() {
        return r;
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_byte_and_differs_between_calls() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        fill(&mut a).unwrap();
        fill(&mut b).unwrap();
        // 512 random bits each: all zero or equal only if the source is broken.
        assert_ne!(a, [0u8; 64]);
        assert_ne!(a, b);
        assert_ne!(try_u64().unwrap(), try_u64().unwrap());
        let t = secret_hex::<16>().unwrap();
        assert_eq!(t.len(), 32);
        assert!(t
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    fn failing(errno: i32) -> impl FnMut(&mut [u8]) -> io::Result<usize> {
        move |_| Err(io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn short_reads_and_interruptions_are_asked_again() {
        let mut calls = 0;
        let one_at_a_time = |b: &mut [u8]| {
            calls += 1;
            if calls % 2 == 0 {
                return Err(io::Error::from_raw_os_error(libc::EINTR));
            }
            b[0] = calls as u8;
            Ok(1)
        };
        let mut buf = [0u8; 4];
        fill_from(&mut buf, one_at_a_time, Path::new("/nonexistent")).unwrap();
        assert_eq!(buf, [1, 3, 5, 7]);
    }

    #[test]
    fn without_getrandom_the_device_gives_and_without_either_it_fails_closed() {
        let mut buf = [0u8; 64];
        fill_from(&mut buf, failing(libc::ENOSYS), Path::new(URANDOM)).unwrap();
        assert_ne!(buf, [0u8; 64]);
        // What getrandom gave before it failed is kept; the device gives the rest.
        let mut first = true;
        let half = |b: &mut [u8]| {
            if std::mem::take(&mut first) {
                b[..4].copy_from_slice(&[9; 4]);
                Ok(4)
            } else {
                Err(io::Error::from_raw_os_error(libc::EPERM))
            }
        };
        let mut buf = [0u8; 64];
        fill_from(&mut buf, half, Path::new(URANDOM)).unwrap();
        assert_eq!(buf[..4], [9; 4]);
        assert_ne!(buf[4..], [0u8; 60]);
        // No device, or a regular file where it should be: an error naming both causes.
        let e = fill_from(&mut buf, failing(libc::ENOSYS), Path::new("/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("getrandom") && e.to_string().contains("/nonexistent"));
        let file = std::env::temp_dir().join(format!("callrec-random-{}", std::process::id()));
        std::fs::write(&file, [0u8; 64]).unwrap();
        let e = fill_from(&mut buf, failing(libc::ENOSYS), &file).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert!(e.to_string().contains("not a character device"), "{e}");
    }
}
