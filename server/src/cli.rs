//! `callrec-server` command line.

pub mod console;

use super::error::ServerError;
use super::{run, ServerOptions};
use callrec_core::cidr::{AllowList, Cidr};
use lexopt::Arg;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

pub const USAGE: &str = "\
callrec-server: the record server for BX/GP phones' network recording

usage:
  callrec-server --listen ADDR:PORT --storage DIR [--rtp-ports LOW-HIGH] [--max-sessions N]
                 [--max-sessions-per-address N] [--max-sessions-per-device N]
                 [--allow CIDR]... [--known-devices-only]
                 [--idle-timeout SECONDS] [--no-rtp-timeout SECONDS] [--shards N] [--log LEVEL]
                 [--http ADDR:PORT] [--catalog postgres://USER@HOST/DB | FILE] [--reserve MIB]
                 [--tls-cert FILE --tls-key FILE] [--http-name NAME]... [--allow-plain-http]
                 [--sweep-every SECONDS]
                 [--metrics 127.0.0.1:PORT] [--config FILE]
  callrec-server verify --storage DIR [--catalog …] [--since DATE] [--no-record]
                 (re-reads the files against their digests; `verify --help`)
  callrec-server device add|list|remove --storage DIR [--catalog …] …
                 (the device registry; `device --help`)
  callrec-server tls self-signed --cert FILE --key FILE --name NAME... [--days N]
                 (a self-signed certificate for --tls-cert; `tls --help`)
  callrec-server --version
  callrec-server user add|list|passwd|remove --storage DIR [--catalog …] …
                 (the web side's accounts; the first admin is made here; `user --help`)
  callrec-server token add|list|revoke --storage DIR [--catalog …] …
                 (API tokens; `token --help`)
  callrec-server audit verify|export --storage DIR [--catalog …] …
                 (the audit trail: check its chain, export it; `audit --help`)
  callrec-server retention show|set --storage DIR [--catalog …] …
                 (how long recordings are kept; `retention --help`)
  callrec-server hold set|release --storage DIR [--catalog …] RID --reason TEXT --by ADMIN
  callrec-server delete --storage DIR [--catalog …] RID --reason TEXT --by ADMIN
                 (legal hold and an admin's delete; `hold --help`, `delete --help`)
  callrec-server backup --storage DIR [--catalog FILE] --to FILE
                 (a consistent copy of the SQLite catalog while the server runs)

defaults: --rtp-ports 40000-49999, --max-sessions 4000, --max-sessions-per-address 4,
  --max-sessions-per-device 2, --idle-timeout 60, --shards 2, --reserve 64
--max-sessions-per-address, --max-sessions-per-device: live sessions one phone address (raise
  it for phones behind NAT) or one device MAC may hold; more are refused (address_limit,
  device_limit)
--allow: control connections only from these ranges (192.0.2.0/24, 2001:db8::/32, or one
  address; repeatable); others are closed unread. Without it: from anywhere
--known-devices-only: refuse starts from devices not in the registry (unknown_device)
--idle-timeout: a session with no RTP and no known control message for this long ends (idle)
--no-rtp-timeout: a session with no RTP at all this long after its start ends (no_rtp;
  default 10)
--http: serve the web app (search, listen, hold, audit, admin pages; /plain without JavaScript)
  and the JSON API there (docs/server-api.md); off without it.
  Every request needs a login or an API token; until a user exists (`user add`) it answers 503
--tls-cert, --tls-key: serve the web side over TLS (1.2 and 1.3) with this certificate chain
  and private key (PEM files); every answer then carries Strict-Transport-Security
--http-name: a name the web side answers to (repeatable); a request for any other Host than
  these, the address it reached or (on loopback) localhost is answered 421
--allow-plain-http: serve plain HTTP on an --http address that is not loopback (refused
  without it: anyone on the network could read the recordings and the logins)
--catalog: where the recordings are catalogued: PostgreSQL at that URL, or an SQLite file
  (default: STORAGE/catalog.sqlite)
--metrics: serve /metrics (Prometheus' text format) without authentication there: a loopback
  address only. On the web side /metrics needs the admin or the metrics role (a token:
  `token add … --role metrics`)
--config: the configuration file (default /etc/callrec-server/config.toml, read if it exists):
  each key is a flag without --, as in `listen = \"0.0.0.0:5060\"`, `max-sessions = 100`,
  `known-devices-only = true`, `allow = [\"192.0.2.0/24\"]`; the flags given override it
--reserve: free space (MiB) the storage keeps: below it new sessions are refused (storage_full)
  and running ones end cleanly
--sweep-every: how often the retention sweep deletes the recordings past their retention
  (`retention --help`; default 3600, and once at start)
one server per storage: a second one on the same DIR is refused (STORAGE/.callrec-server.lock)";

pub fn main(args: Vec<OsString>) -> ExitCode {
    // Every subcommand too (`callrec-server verify --version`).
    if callrec_platform::version::asked(&args) {
        let version = callrec_platform::version::line("callrec-server", env!("CARGO_PKG_VERSION"));
        println!("{version}");
        return ExitCode::SUCCESS;
    }
    if args.first().is_some_and(|a| a == "verify") {
        return super::verify::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "device") {
        return super::devices::cli::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "user") {
        return super::auth::cli::user_main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "token") {
        return super::auth::cli::token_main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "audit") {
        return super::audit::cli::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "retention") {
        return super::retention::cli::retention_main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "hold") {
        return super::retention::cli::hold_main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "delete") {
        return super::retention::cli::delete_main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "backup") {
        return super::backup::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "tls") {
        return super::http::self_signed::main(args[1..].to_vec());
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match parse(args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ ServerError::Usage(_)) => {
            eprintln!("callrec-server: {e}\n\n{USAGE}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("callrec-server: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The flags read so far, from the configuration file and then the command line.
struct Flags {
    opts: ServerOptions,
    listen: Option<SocketAddr>,
    storage: Option<std::path::PathBuf>,
    level: String,
    allow: Vec<Cidr>,
    tls_cert: Option<std::path::PathBuf>,
    tls_key: Option<std::path::PathBuf>,
    plain: bool,
}

impl Flags {
    fn new() -> Flags {
        Flags {
            opts: ServerOptions::default(),
            listen: None,
            storage: None,
            level: std::env::var("CALLREC_LOG").unwrap_or_else(|_| "info".into()),
            allow: Vec::new(),
            tls_cert: None,
            tls_key: None,
            plain: false,
        }
    }
}

/// The configuration file's settings ([`super::config`]), then the command line's flags over
/// them.
fn parse(args: Vec<OsString>) -> Result<ServerOptions, ServerError> {
    let loaded = super::config::load(args)?;
    let mut f = Flags::new();
    if let Some(path) = &loaded.path {
        for s in &loaded.settings {
            let mut scratch = Flags::new();
            let into = if s.check_only { &mut scratch } else { &mut f };
            let mut p = lexopt::Parser::from_args(s.args.clone());
            flags(&mut p, into).map_err(|e| {
                let what = match e {
                    ServerError::Usage(m) => m,
                    other => other.to_string(),
                };
                ServerError::Usage(s.error(path, &what))
            })?;
        }
    }
    flags(&mut lexopt::Parser::from_args(loaded.args), &mut f)?;
    let Flags {
        mut opts,
        listen,
        storage,
        level,
        allow,
        tls_cert,
        tls_key,
        plain,
    } = f;
    callrec_platform::logger::init(&level)?;
    opts.listen =
        listen.ok_or("--listen ADDR:PORT is required (or listen in the configuration file)")?;
    opts.storage =
        storage.ok_or("--storage DIR is required (or storage in the configuration file)")?;
    opts.allow = AllowList::new(allow);
    opts.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    plain_http(opts.http, opts.tls.is_some(), plain)?;
    Ok(opts)
}

/// Reads flags from `p` into `f`; each flag is one `Arg::Long` here, and a key of the
/// configuration file ([`super::config::KEYS`]).
fn flags(p: &mut lexopt::Parser, f: &mut Flags) -> Result<(), ServerError> {
    let Flags {
        opts,
        listen,
        storage,
        level,
        allow,
        tls_cert,
        tls_key,
        plain,
    } = f;
    let text = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| "not UTF-8".to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("listen") => {
                let v = text(p)?;
                *listen = Some(v.parse().map_err(|_| format!("bad --listen {v:?}"))?);
            }
            Arg::Long("storage") => *storage = Some(text(p)?.into()),
            Arg::Long("rtp-ports") => {
                let v = text(p)?;
                let (lo, hi) = callrec_core::port::parse_range(&v)
                    .ok_or_else(|| format!("bad --rtp-ports {v:?} (LOW-HIGH)"))?;
                opts.rtp_ports = (lo, hi);
            }
            Arg::Long("max-sessions") => {
                opts.max_sessions = text(p)?.parse().map_err(|_| "bad --max-sessions")?;
            }
            Arg::Long("max-sessions-per-address") => {
                opts.max_sessions_per_address =
                    at_least_one(&text(p)?).ok_or("bad --max-sessions-per-address (1 or more)")?;
            }
            Arg::Long("max-sessions-per-device") => {
                opts.max_sessions_per_device =
                    at_least_one(&text(p)?).ok_or("bad --max-sessions-per-device (1 or more)")?;
            }
            Arg::Long("allow") => {
                let v = text(p)?;
                allow.push(Cidr::parse(&v).map_err(|e| format!("bad --allow {v:?}: {e}"))?);
            }
            Arg::Long("known-devices-only") => opts.known_devices_only = true,
            Arg::Long("idle-timeout") => {
                let s: u64 = text(p)?.parse().map_err(|_| "bad --idle-timeout")?;
                opts.idle_timeout = Duration::from_secs(s.max(1));
            }
            Arg::Long("no-rtp-timeout") => {
                let s: u64 = text(p)?.parse().map_err(|_| "bad --no-rtp-timeout")?;
                opts.no_rtp_timeout = Duration::from_secs(s.max(1));
            }
            Arg::Long("shards") => {
                let n: usize = text(p)?.parse().map_err(|_| "bad --shards")?;
                opts.shards = n.clamp(1, 64);
            }
            Arg::Long("log") => *level = text(p)?,
            Arg::Long("http") => {
                let v = text(p)?;
                opts.http = Some(v.parse().map_err(|_| format!("bad --http {v:?}"))?);
            }
            Arg::Long("metrics") => {
                let v = text(p)?;
                let addr = v.parse().map_err(|_| format!("bad --metrics {v:?}"))?;
                super::http::metrics::loopback_only(addr)?;
                opts.metrics = Some(addr);
            }
            Arg::Long("tls-cert") => *tls_cert = Some(std::path::PathBuf::from(text(p)?)),
            Arg::Long("tls-key") => *tls_key = Some(std::path::PathBuf::from(text(p)?)),
            Arg::Long("http-name") => {
                let v = text(p)?;
                opts.http_names.push(super::http::host::configured(&v)?);
            }
            Arg::Long("allow-plain-http") => *plain = true,
            Arg::Long("catalog") => opts.catalog = Some(text(p)?),
            Arg::Long("reserve") => {
                let v = text(p)?;
                let mib: u64 = v
                    .parse()
                    .ok()
                    .filter(|&m| (1..=1 << 30).contains(&m))
                    .ok_or_else(|| format!("bad --reserve {v:?} (MiB, 1 or more)"))?;
                opts.reserve = mib * super::space::MIB;
            }
            Arg::Long("sweep-every") => {
                let v = text(p)?;
                let s = at_least_one(&v).ok_or_else(|| format!("bad --sweep-every {v:?}"))?;
                opts.sweep_every = Duration::from_secs(s as u64);
            }
            other => return Err(ServerError::usage(other.unexpected().to_string())),
        }
    }
    Ok(())
}

/// Plain HTTP only on loopback, unless the operator says `--allow-plain-http`.
fn plain_http(http: Option<SocketAddr>, tls: bool, plain: bool) -> Result<(), String> {
    match http {
        None if tls || plain => Err("--tls-cert and --allow-plain-http need --http".into()),
        Some(_) if tls && plain => {
            Err("--allow-plain-http with --tls-cert: the web side is TLS; drop one".into())
        }
        Some(addr) if !tls && !plain && !loopback(addr.ip()) => Err(format!(
            "--http {addr} is not a loopback address, and without TLS anyone on that network \
             could read the recordings and the logins: give a certificate with --tls-cert FILE \
             --tls-key FILE (`callrec-server tls self-signed` makes one), listen on 127.0.0.1 \
             or [::1], or say --allow-plain-http to serve plain HTTP there anyway"
        )),
        _ => Ok(()),
    }
}

fn loopback(ip: std::net::IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// A whole number from 1 (at most 9 digits).
fn at_least_one(v: &str) -> Option<usize> {
    (v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
        .filter(|&n| n >= 1)
}

#[cfg(test)]
mod tests {
    use super::plain_http;

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let at = |s: &str| Some(s.parse().unwrap());
        assert!(plain_http(at("127.0.0.1:8090"), false, false).is_ok());
        assert!(plain_http(at("[::1]:8090"), false, false).is_ok());
        assert!(plain_http(at("[::ffff:127.0.0.1]:8090"), false, false).is_ok());
        let err = plain_http(at("0.0.0.0:8090"), false, false).unwrap_err();
        assert!(
            err.contains("--allow-plain-http") && err.contains("--tls-cert"),
            "{err}"
        );
        assert!(plain_http(at("192.0.2.7:8090"), false, false).is_err());
        assert!(plain_http(at("192.0.2.7:8090"), false, true).is_ok());
        assert!(plain_http(at("192.0.2.7:8443"), true, false).is_ok());
        assert!(plain_http(at("192.0.2.7:8443"), true, true).is_err());
        assert!(plain_http(None, true, false).is_err());
        assert!(plain_http(None, false, false).is_ok());
    }
}
