//! Passwords as Argon2id hashes in PHC form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`): the cost
//! is written with each hash, so raising [`MEMORY_KIB`] or [`PASSES`] later leaves the older
//! hashes verifiable (a user's next `passwd` rewrites theirs at the new cost).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory per hash, KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over that memory.
pub const PASSES: u32 = 2;
/// Lanes.
pub const LANES: u32 = 1;
/// The shortest password accepted, in characters.
pub const MIN_LEN: usize = 10;
/// The longest, in bytes (a longer one is refused before hashing, so it costs nothing).
pub const MAX_LEN: usize = 1024;

/// Whether `password` may be set: its length only.
pub fn acceptable(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password has at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("a password has at most {MAX_LEN} bytes"));
    }
    Ok(())
}

fn hasher() -> Result<Argon2<'static>, String> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a new 16-byte salt from the kernel.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    callrec_platform::random::fill(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
    hash_with_salt(password, &salt)
}

/// The PHC string of `password` with `salt` (tests use a fixed one).
pub fn hash_with_salt(password: &str, salt: &[u8]) -> Result<String, String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| e.to_string())?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` is the one `phc` was made from, at the cost `phc` says. A hash that is
/// not Argon2id PHC, or a password over [`MAX_LEN`], is never a match.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody has, at today's cost: verified against when a login names no
/// account, so that a missing account takes as long as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_with_salt("no account has this password", b"callrec-decoy-salt").unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_says_its_cost() {
        let h = hash_with_salt("correct horse battery", b"0123456789abcdef").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "correct horse battery"));
        assert!(!verify(&h, "correct horse batterY"));
        assert!(!verify(&h, ""));
        assert!(!verify("garbage", "correct horse battery"));
        assert!(!verify("", ""));
    }

    #[test]
    fn an_older_cheaper_hash_still_verifies() {
        let params = Params::new(1024, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"an old password", &salt)
            .unwrap()
            .to_string();
        assert!(old.contains("m=1024,t=1,p=1"));
        assert!(verify(&old, "an old password"));
    }

    #[test]
    fn argon2i_and_argon2d_hashes_are_refused() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(1024, 1, 1, None).unwrap();
        let d = Argon2::new(Algorithm::Argon2d, Version::V0x13, params)
            .hash_password(b"password12", &salt)
            .unwrap()
            .to_string();
        assert!(!verify(&d, "password12"));
    }

    #[test]
    fn lengths() {
        assert!(acceptable("short").is_err());
        assert!(acceptable("ten chars!").is_ok());
        assert!(acceptable(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(!verify(decoy(), &"x".repeat(MAX_LEN + 1)));
        assert!(decoy().starts_with("$argon2id$"));
    }
}
