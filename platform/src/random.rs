//! Random numbers from the kernel: [`fill`] and [`try_u64`] fail closed (for what must be
//! unpredictable, like the record server's RTP ports); [`random_u64`] never fails (for ids and
//! SIP branches, not secrets).

use std::io;

/// Fills `buf` from getrandom(2), the kernel's CSPRNG (blocking only until it is seeded at
/// boot). An error if the kernel gives none: the caller refuses rather than guess.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        let rest = &mut buf[at..];
        // SAFETY: getrandom writes at most rest.len() bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        at += n as usize;
    }
    Ok(())
}

/// 64 bits from the kernel's CSPRNG, or an error ([`fill`]).
pub fn try_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// 64 random bits from getrandom(2); if the kernel has none to give, the time and the pid
/// (unique enough for ids on one phone).
pub fn random_u64() -> u64 {
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
    }
}
