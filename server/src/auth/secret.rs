//! Secrets: 256-bit random tokens from the kernel's CSPRNG (no fallback: without it, no
//! token), written as hex; their SHA-256, which is what the catalog stores; equality in
//! constant time.

use sha2::{Digest, Sha256};

/// The prefix of an API token: `crt_` and 64 hex digits.
pub const API_PREFIX: &str = "crt_";

/// 32 random bytes as 64 lowercase hex digits.
pub fn token() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    callrec_platform::random::fill(&mut b)?;
    Ok(hex(&b))
}

/// A short random id (8 hex digits) for an API token's listing and revocation.
pub fn short_id() -> std::io::Result<String> {
    let mut b = [0u8; 4];
    callrec_platform::random::fill(&mut b)?;
    Ok(hex(&b))
}

/// The SHA-256 of `secret`, hex: what the catalog keeps of a session or API token.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `text` has the form of a token: 64 lowercase hex digits.
pub fn well_formed(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The secret part of an API token (`crt_` + 64 hex), if `text` is one.
pub fn api_secret(text: &str) -> Option<&str> {
    text.strip_prefix(API_PREFIX).filter(|s| well_formed(s))
}

/// Equal bytes, in time that depends on the lengths only.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_parse_back() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert!(well_formed(&a) && a != b);
        let api = format!("{API_PREFIX}{a}");
        assert_eq!(api_secret(&api), Some(a.as_str()));
        for bad in [
            "",
            "crt_",
            "crt_00",
            &a,
            &format!("crt_{}", a.to_uppercase()),
        ] {
            assert_eq!(api_secret(bad), None, "{bad:?}");
        }
        assert_eq!(short_id().unwrap().len(), 8);
    }

    #[test]
    fn digests_and_equality() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_eq(b"abc", b"abc"));
        assert!(!constant_eq(b"abc", b"abd"));
        assert!(!constant_eq(b"abc", b"ab"));
    }
}
