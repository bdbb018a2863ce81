//! Which names the web side answers to (no DNS rebinding): the request's `Host` (or the
//! authority of an absolute-form target) must be one of `--http-name`, the address the client
//! connected to, or, on a loopback listener, `localhost`, `127.0.0.1` or `[::1]`; a port, if
//! given, is not compared. Anything else is answered 421. No I/O.
//!
//! A page of an attacker's site whose name they point at this server's address (rebinding)
//! sends the attacker's name as its `Host`, which is none of these.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The longest host name taken (RFC 1035: 253 characters, and a trailing dot).
const MAX_NAME: usize = 254;

/// The host part of an authority: a DNS name (lower case, no trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

/// Why an authority is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHost {
    /// Empty.
    Empty,
    /// A character or a form an authority does not have (a user, a path, a space, …).
    Malformed,
    /// A port that is no number of 0 to 65535.
    Port,
}

impl std::fmt::Display for BadHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadHost::Empty => "an empty host",
            BadHost::Malformed => "a malformed host",
            BadHost::Port => "a malformed port",
        })
    }
}

/// `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`; names compared without case and without
/// one trailing dot. The port (which may be empty, RFC 3986) is returned as given.
pub fn parse(authority: &str) -> Result<(Host, Option<u16>), BadHost> {
    if authority.is_empty() {
        return Err(BadHost::Empty);
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(BadHost::Malformed)?;
        let ip: Ipv6Addr = v6.parse().map_err(|_| BadHost::Malformed)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(BadHost::Malformed)?),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (h, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        (name(h)?, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => {
            let ok = p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
            Some(p.parse().ok().filter(|_| ok).ok_or(BadHost::Port)?)
        }
    };
    Ok((host, port))
}

/// A name or an IPv4 address (an IPv6 address only in brackets, above).
fn name(h: &str) -> Result<Host, BadHost> {
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.is_empty() {
        return Err(BadHost::Empty);
    }
    let ok = h.len() <= MAX_NAME
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !h.starts_with('.')
        && !h.contains("..");
    if !ok {
        return Err(BadHost::Malformed);
    }
    if let Ok(ip) = h.parse::<std::net::Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    Ok(Host::Name(h.to_ascii_lowercase()))
}

/// A `--http-name`: a DNS name or an IP address (IPv6 with or without brackets), no port.
pub fn configured(value: &str) -> Result<Host, String> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    match parse(value) {
        Ok((host, None)) if !value.ends_with(':') => Ok(host),
        Ok(_) => Err(format!(
            "bad --http-name {value:?}: a name without a port (the port is not compared)"
        )),
        Err(e) => Err(format!("bad --http-name {value:?}: {e}")),
    }
}

/// The names the web side answers to, besides the address a client connected to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(Vec<Host>);

/// What the check says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Served.
    Ours,
    /// Not one of ours (421).
    Misdirected,
    /// No host, two `Host` headers or a malformed one (400).
    Bad(&'static str),
}

impl Names {
    pub fn new(names: Vec<Host>) -> Names {
        Names(names)
    }

    /// Whether `host` is served on a connection that reached `local`.
    pub fn serves(&self, host: &Host, local: SocketAddr) -> bool {
        let local_ip = canonical(local.ip());
        if self.0.contains(host) {
            return true;
        }
        match host {
            Host::Ip(ip) => {
                canonical(*ip) == local_ip || (local_ip.is_loopback() && ip.is_loopback())
            }
            Host::Name(n) => local_ip.is_loopback() && n == "localhost",
        }
    }

    /// The verdict on a request whose target has `authority` (absolute form) and whose `Host`
    /// headers are `hosts`, on a connection that reached `local`. The target's authority wins
    /// over `Host` (RFC 9112, 3.2.2).
    pub fn check(&self, authority: Option<&str>, hosts: &[&[u8]], local: SocketAddr) -> Verdict {
        let given = match (authority, hosts) {
            (Some(a), _) => a,
            (None, [one]) => match std::str::from_utf8(one) {
                Ok(s) => s.trim_matches(|c| c == ' ' || c == '\t'),
                Err(_) => return Verdict::Bad("a malformed Host header"),
            },
            (None, []) => return Verdict::Bad("no Host header"),
            (None, _) => return Verdict::Bad("more than one Host header"),
        };
        match parse(given) {
            Ok((host, _)) if self.serves(&host, local) => Verdict::Ours,
            Ok(_) => Verdict::Misdirected,
            Err(_) => Verdict::Bad("a malformed Host header"),
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Host {
        Host::Name(n.into())
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn authorities_parse() {
        assert_eq!(parse("Example.COM"), Ok((name("example.com"), None)));
        assert_eq!(parse("example.com."), Ok((name("example.com"), None)));
        assert_eq!(
            parse("example.com:8443"),
            Ok((name("example.com"), Some(8443)))
        );
        assert_eq!(parse("example.com:"), Ok((name("example.com"), None)));
        assert_eq!(parse("192.0.2.7:80"), Ok((ip("192.0.2.7"), Some(80))));
        assert_eq!(parse("[::1]"), Ok((ip("::1"), None)));
        assert_eq!(
            parse("[2001:DB8::1]:8443"),
            Ok((ip("2001:db8::1"), Some(8443)))
        );
        assert_eq!(
            parse("[::ffff:127.0.0.1]:1"),
            Ok((ip("::ffff:127.0.0.1"), Some(1)))
        );
    }

    #[test]
    fn malformed_authorities_are_refused() {
        assert_eq!(parse(""), Err(BadHost::Empty));
        assert_eq!(parse(":80"), Err(BadHost::Empty));
        assert_eq!(parse("."), Err(BadHost::Empty));
        for bad in [
            "user@example.com",
            "example.com/x",
            "exa mple.com",
            "::1",
            "[::1",
            "[::1]x",
            "[example.com]",
            "a..b",
            ".a",
            "é.example",
            "example.com:80:80",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("example.com:65536"), Err(BadHost::Port));
        assert_eq!(parse("example.com:123456"), Err(BadHost::Port));
        assert_eq!(parse("example.com:-1"), Err(BadHost::Port));
        assert_eq!(parse("[::1]:x"), Err(BadHost::Port));
        assert!(parse(&"a".repeat(255)).is_err());
    }

    #[test]
    fn configured_names_have_no_port() {
        assert_eq!(configured("Recorder.Example"), Ok(name("recorder.example")));
        assert_eq!(configured("2001:db8::1"), Ok(ip("2001:db8::1")));
        assert_eq!(configured("[2001:db8::1]"), Ok(ip("2001:db8::1")));
        assert!(configured("recorder.example:443").is_err());
        assert!(configured("recorder.example:").is_err());
        assert!(configured("").is_err());
        assert!(configured("a/b").is_err());
    }

    #[test]
    fn served_names() {
        let names = Names::new(vec![name("recorder.example"), ip("198.51.100.9")]);
        let lan: SocketAddr = "192.0.2.7:8443".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8090".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8090".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:8443".parse().unwrap();
        let ok = |h: &str, local| names.check(None, &[h.as_bytes()], local) == Verdict::Ours;
        assert!(ok("recorder.example", lan));
        assert!(ok("RECORDER.example.:8443", lan));
        assert!(ok("recorder.example:1", lan), "the port is not compared");
        assert!(ok("198.51.100.9", lan));
        assert!(ok("192.0.2.7:8443", lan), "the address reached");
        assert!(ok("192.0.2.7", mapped), "mapped IPv4");
        assert!(!ok("localhost", lan), "localhost only on loopback");
        assert!(!ok("127.0.0.1", lan));
        assert!(!ok("evil.example", lan));
        assert!(!ok("recorder.example.evil.example", lan));
        for h in [
            "localhost",
            "LOCALHOST:8090",
            "127.0.0.1:8090",
            "[::1]:8090",
            "[::1]",
        ] {
            assert!(ok(h, lo), "{h}");
            assert!(ok(h, lo6), "{h}");
        }
        assert!(!ok("evil.example:8090", lo), "rebinding to loopback");
        assert!(!ok("localhost.evil.example", lo));
    }

    #[test]
    fn verdicts() {
        let names = Names::default();
        let lo: SocketAddr = "127.0.0.1:8090".parse().unwrap();
        assert_eq!(names.check(None, &[], lo), Verdict::Bad("no Host header"));
        assert_eq!(
            names.check(None, &[b"localhost", b"localhost"], lo),
            Verdict::Bad("more than one Host header")
        );
        assert_eq!(
            names.check(None, &[b"local host"], lo),
            Verdict::Bad("a malformed Host header")
        );
        assert_eq!(
            names.check(None, &[b"\xff"], lo),
            Verdict::Bad("a malformed Host header")
        );
        assert_eq!(names.check(None, &[b" localhost "], lo), Verdict::Ours);
        assert_eq!(
            names.check(None, &[b"evil.example"], lo),
            Verdict::Misdirected
        );
        // The absolute form's authority wins over Host.
        assert_eq!(
            names.check(Some("evil.example"), &[b"localhost"], lo),
            Verdict::Misdirected
        );
        assert_eq!(names.check(Some("localhost:8090"), &[], lo), Verdict::Ours);
    }
}
