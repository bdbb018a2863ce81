//! The settings page's login: one admin account, its password stored as PBKDF2-HMAC-SHA256
//! (light on memory: a few hundred bytes, whatever the iteration count), sessions with a CSRF
//! token each, and failed logins slowed down. No I/O but the password file; time comes in as
//! milliseconds, so tests drive it directly.

use callrec_platform::random::{fill, secret_hex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The account's name, as phones have it.
pub const USER: &str = "admin";
/// The factory password; it must be changed at the first login.
pub const DEFAULT_PASSWORD: &str = "admin";
/// PBKDF2 rounds: about 40 ms on a PC and, by the usual factor, under a second on a phone's
/// ARM core, paid once per login.
pub const ITERATIONS: u32 = 100_000;
/// Sessions alive at once; a new login ends the oldest.
pub const MAX_SESSIONS: usize = 4;
/// A session unused this long ends.
pub const IDLE_MS: u64 = 30 * 60 * 1000;
/// Longest wait after failed logins.
pub const MAX_WAIT_MS: u64 = 60_000;

/// The password file (`admin.json` beside the settings).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    user: String,
    algorithm: String,
    iterations: u32,
    salt: String,
    hash: String,
}

/// One logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    pub token: String,
    pub csrf: String,
    pub must_change: bool,
    last_seen: u64,
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    BadLogin,
    /// Too soon after failures: wait this many seconds.
    SlowDown(u64),
    /// The kernel gives no random numbers for the session's tokens: no login is possible.
    NoRandom,
}

/// See the module doc.
#[derive(Debug)]
pub struct Auth {
    path: PathBuf,
    /// None: the factory password is in force.
    stored: Option<Stored>,
    sessions: Vec<LoginSession>,
    failures: u32,
    locked_until: u64,
}

impl Auth {
    /// Reads the password file; a missing or unreadable one means the factory password (a
    /// broken file is logged, never a way in without a password).
    pub fn load(path: &Path) -> Auth {
        let stored = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(s) if s.algorithm == "pbkdf2-sha256" && s.iterations > 0 => Some(s),
                _ => {
                    log::warn!(
                        "{} is not a password file; the factory password is in force",
                        path.display()
                    );
                    None
                }
            },
            Err(_) => None,
        };
        Auth {
            path: path.to_owned(),
            stored,
            sessions: Vec::with_capacity(MAX_SESSIONS),
            failures: 0,
            locked_until: 0,
        }
    }

    /// Checks the user and password; a new session on success. (All in one: for tests and
    /// callers that may block; the web listener runs [`Verifier::check`] off its thread.)
    pub fn login(
        &mut self,
        now_ms: u64,
        user: &str,
        password: &str,
    ) -> Result<LoginSession, LoginError> {
        self.may_try(now_ms)?;
        let good = self.verifier().check(user, password);
        self.finish_login(now_ms, good)
    }

    /// Whether a login may be tried now (the wait after failures is over).
    pub fn may_try(&self, now_ms: u64) -> Result<(), LoginError> {
        if now_ms < self.locked_until {
            return Err(LoginError::SlowDown(
                (self.locked_until - now_ms).div_ceil(1000),
            ));
        }
        Ok(())
    }

    /// What checks a password, without the rest of the state (PBKDF2 takes a while).
    pub fn verifier(&self) -> Verifier {
        Verifier {
            stored: self.stored.clone(),
        }
    }

    /// Records a login's outcome: a new session, or one more failure and a longer wait.
    pub fn finish_login(&mut self, now_ms: u64, good: bool) -> Result<LoginSession, LoginError> {
        self.may_try(now_ms)?;
        if !good {
            self.failures = self.failures.saturating_add(1);
            let wait = 1000u64
                .saturating_mul(1 << (self.failures - 1).min(16))
                .min(MAX_WAIT_MS);
            self.locked_until = now_ms + wait;
            log::warn!(
                "failed login to the settings page ({} in a row)",
                self.failures
            );
            return Err(LoginError::BadLogin);
        }
        self.failures = 0;
        self.locked_until = 0;
        if self.sessions.len() == MAX_SESSIONS {
            self.sessions.remove(0);
        }
        let (Some(token), Some(csrf)) = (token(), token()) else {
            return Err(LoginError::NoRandom);
        };
        let session = LoginSession {
            token,
            csrf,
            must_change: self.stored.is_none(),
            last_seen: now_ms,
        };
        self.sessions.push(session.clone());
        log::info!("login to the settings page");
        Ok(session)
    }

    /// The live session of this token (touching it), if any.
    pub fn session(&mut self, now_ms: u64, token: &str) -> Option<LoginSession> {
        self.sessions
            .retain(|s| now_ms.saturating_sub(s.last_seen) < IDLE_MS);
        let s = self
            .sessions
            .iter_mut()
            .find(|s| constant_eq(s.token.as_bytes(), token.as_bytes()))?;
        s.last_seen = now_ms;
        Some(s.clone())
    }

    pub fn logout(&mut self, token: &str) {
        self.sessions
            .retain(|s| !constant_eq(s.token.as_bytes(), token.as_bytes()));
    }

    /// Changes the password (for the session `token`); the other sessions end. Errors are
    /// per field (`current`, `new`). (All in one: see [`login`](Self::login).)
    pub fn change_password(
        &mut self,
        token: &str,
        current: &str,
        new: &str,
    ) -> Result<(), BTreeMap<String, String>> {
        let record = self.verifier().new_password(current, new)?;
        self.store_password(token, record)
    }

    /// Stores a record [`Verifier::new_password`] made, atomically; the other sessions end.
    pub fn store_password(
        &mut self,
        token: &str,
        record: NewPassword,
    ) -> Result<(), BTreeMap<String, String>> {
        let stored = record.0;
        let text = serde_json::to_vec_pretty(&stored).unwrap_or_default();
        if let Err(e) = callrec_platform::atomic::write_atomically(&self.path, &text) {
            let mut errors = BTreeMap::new();
            errors.insert(
                "new".into(),
                format!("the password could not be saved: {e}"),
            );
            return Err(errors);
        }
        self.stored = Some(stored);
        self.sessions
            .retain(|s| constant_eq(s.token.as_bytes(), token.as_bytes()));
        for s in &mut self.sessions {
            s.must_change = false;
        }
        log::info!("the settings page's password was changed");
        Ok(())
    }
}

/// A new password record, checked and hashed, ready to store.
#[derive(Debug)]
pub struct NewPassword(Stored);

/// Checks passwords against the account (a copy of the stored record: it can run on another
/// thread while the listener goes on).
#[derive(Debug, Clone)]
pub struct Verifier {
    stored: Option<Stored>,
}

impl Verifier {
    /// The user and password are the account's. The password is checked even for a wrong user,
    /// so the time taken tells nothing.
    pub fn check(&self, user: &str, password: &str) -> bool {
        self.check_password(password) & constant_eq(user.as_bytes(), USER.as_bytes())
    }

    /// Checks a change and hashes the new password with a fresh salt.
    pub fn new_password(
        &self,
        current: &str,
        new: &str,
    ) -> Result<NewPassword, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        if !self.check_password(current) {
            errors.insert("current".into(), "wrong password".into());
        }
        let n = new.chars().count();
        if !(8..=128).contains(&n) {
            errors.insert("new".into(), "use 8 to 128 characters".into());
        } else if new == DEFAULT_PASSWORD || new == current {
            errors.insert(
                "new".into(),
                "choose a password other than the old one".into(),
            );
        } else if new.chars().any(char::is_control) {
            errors.insert("new".into(), "no control characters".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut salt = [0u8; 16];
        if let Err(e) = fill(&mut salt) {
            log::error!("settings page: no salt for the new password: {e}");
            errors.insert(
                "new".into(),
                "the phone gives no random numbers: the password cannot be stored".into(),
            );
            return Err(errors);
        }
        Ok(NewPassword(Stored {
            user: USER.into(),
            algorithm: "pbkdf2-sha256".into(),
            iterations: ITERATIONS,
            salt: hex(&salt),
            hash: hex(&derive(new.as_bytes(), &salt, ITERATIONS)),
        }))
    }

    /// The password is the account's (constant time in what matches).
    fn check_password(&self, password: &str) -> bool {
        match &self.stored {
            None => constant_eq(password.as_bytes(), DEFAULT_PASSWORD.as_bytes()),
            Some(s) => {
                let (Some(salt), Some(hash)) = (unhex(&s.salt), unhex(&s.hash)) else {
                    return false;
                };
                let got = derive(password.as_bytes(), &salt, s.iterations);
                constant_eq(&got, &hash)
            }
        }
    }
}

/// PBKDF2-HMAC-SHA256, 32 bytes.
fn derive(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out);
    out
}

/// Equal, looking at every byte whatever differs (the length is not secret).
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 128 bits from the kernel's CSPRNG as 32 hex digits; None (logged) if it gives none.
fn token() -> Option<String> {
    secret_hex::<16>()
        .map_err(|e| log::error!("settings page: no login possible: {e}"))
        .ok()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("callrec-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("admin.json")
    }

    #[test]
    fn pbkdf2_matches_the_rfc_7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, 64 bytes.
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
    }

    #[test]
    fn the_factory_password_works_once_and_must_be_changed() {
        let path = temp("factory");
        let mut a = Auth::load(&path);
        let s = a.login(0, "admin", "admin").unwrap();
        assert!(s.must_change);
        let other = a.login(1, "admin", "admin").unwrap();
        let e = a.change_password(&s.token, "admin", "short").unwrap_err();
        assert_eq!(e["new"], "use 8 to 128 characters");
        let e = a.change_password(&s.token, "wrong", "admin").unwrap_err();
        assert!(e.contains_key("current") && e.contains_key("new"));
        a.change_password(&s.token, "admin", "correct horse")
            .unwrap();
        // This session goes on, unrestricted; the other one ended.
        assert!(!a.session(2, &s.token).unwrap().must_change);
        assert!(a.session(2, &other.token).is_none());
        // Stored hashed, and read back by a new agent.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("correct horse") && text.contains("pbkdf2-sha256"));
        let mut b = Auth::load(&path);
        assert_eq!(b.login(0, "admin", "admin"), Err(LoginError::BadLogin));
        assert!(!b.login(5000, "admin", "correct horse").unwrap().must_change);
    }

    #[test]
    fn failed_logins_wait_longer_each_time() {
        let mut a = Auth::load(&temp("slow"));
        assert_eq!(a.login(0, "admin", "x"), Err(LoginError::BadLogin));
        assert_eq!(a.login(500, "admin", "admin"), Err(LoginError::SlowDown(1)));
        assert_eq!(a.login(1000, "root", "admin"), Err(LoginError::BadLogin));
        assert_eq!(
            a.login(2500, "admin", "admin"),
            Err(LoginError::SlowDown(1))
        );
        assert_eq!(a.login(3000, "admin", "x"), Err(LoginError::BadLogin));
        assert_eq!(
            a.login(3001, "admin", "admin"),
            Err(LoginError::SlowDown(4))
        );
        for i in 0..20 {
            let t = 10_000_000 * (i + 1);
            assert_eq!(a.login(t, "admin", "x"), Err(LoginError::BadLogin));
        }
        // The wait stops growing at a minute.
        assert_eq!(
            a.login(200_030_000, "admin", "admin"),
            Err(LoginError::SlowDown(30))
        );
        assert!(a.login(200_060_000, "admin", "admin").is_ok());
        // A success resets the count: the next failure waits one second again.
        assert_eq!(
            a.login(200_060_001, "admin", "x"),
            Err(LoginError::BadLogin)
        );
        assert_eq!(
            a.login(200_061_001, "admin", "x"),
            Err(LoginError::BadLogin)
        );
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let mut a = Auth::load(&temp("sessions"));
        let first = a.login(0, "admin", "admin").unwrap();
        assert!(a.session(IDLE_MS - 1, &first.token).is_some());
        assert!(a.session(2 * IDLE_MS, &first.token).is_none());
        let tokens: Vec<String> = (0..MAX_SESSIONS + 1)
            .map(|i| {
                a.login(3 * IDLE_MS + i as u64, "admin", "admin")
                    .unwrap()
                    .token
            })
            .collect();
        assert!(
            a.session(3 * IDLE_MS + 10, &tokens[0]).is_none(),
            "the oldest ended"
        );
        assert!(a.session(3 * IDLE_MS + 10, &tokens[MAX_SESSIONS]).is_some());
        a.logout(&tokens[MAX_SESSIONS]);
        assert!(a.session(3 * IDLE_MS + 11, &tokens[MAX_SESSIONS]).is_none());
        assert!(a.session(0, "").is_none());
    }

    #[test]
    fn a_broken_password_file_means_the_factory_password_not_no_password() {
        let path = temp("broken");
        std::fs::write(&path, b"{\"user\":\"admin\"").unwrap();
        let mut a = Auth::load(&path);
        assert_eq!(a.login(0, "admin", ""), Err(LoginError::BadLogin));
        assert!(a.login(2000, "admin", "admin").unwrap().must_change);
    }
}
