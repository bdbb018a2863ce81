//! The agent's secrets when getrandom(2) fails, as on phone kernels before 3.17 (ENOSYS): an
//! LD_PRELOAD shim (compiled here with the host's `cc`) makes the C library's getrandom fail, and
//! the real agent's session tokens must still come from the kernel (`/dev/urandom`), not from the
//! time and the pid as they once did. (Neither source at all: the agent refuses every login;
//! that path is unit-tested in callrec-platform's random.rs, since Rust's own start-up needs
//! /dev/urandom when getrandom fails.)

mod common;
use common::web::Client;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHIM: &str = r#"
#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    (void)buf; (void)len; (void)flags;
    errno = ENOSYS;
    return -1;
}
"#;

/// The shim as a shared object in `dir`.
fn shim(dir: &Path) -> PathBuf {
    let src = dir.join("no_getrandom.c");
    let so = dir.join("no_getrandom.so");
    std::fs::write(&src, SHIM).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .output()
        .expect("cc, to build the LD_PRELOAD shim");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn without_getrandom_session_tokens_come_from_the_kernel_not_the_clock() {
    let dir = TempDir::new("agent-random");
    let so = shim(dir.path());
    let mut spec = AgentSpec::host(dir.path()).settings("{}");
    spec.wrapper = vec!["env".into(), format!("LD_PRELOAD={}", so.display())];
    let agent = Agent::start(&spec);
    let pid = u64::from(agent.child.id());
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let mut c = Client::new(agent.http);
        let r = c.login("admin", "admin");
        assert_eq!(r.status, 200, "{}", r.text());
        tokens.push(c.cookie.clone().unwrap());
    }
    // The shim was in force: the agent said it read /dev/urandom instead.
    let log = agent.log();
    assert!(
        log.contains("random: getrandom:") && log.contains("/dev/urandom instead"),
        "{log}"
    );
    let now = now_ns();
    for t in &tokens {
        assert_eq!(t.len(), 32, "{t}");
        // The old fallback was the time in ns XOR the pid << 40, 64 bits at a time: undone, a
        // token of it lands within seconds of now; a random one practically never.
        for half in [&t[..16], &t[16..]] {
            let v = u64::from_str_radix(half, 16).unwrap();
            let t_ns = v ^ (pid << 40);
            assert!(
                t_ns.abs_diff(now) > 3_600 * 1_000_000_000,
                "{t} is the time: {t_ns} vs {now}"
            );
        }
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 3);
}
