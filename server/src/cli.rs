//! `callrec-server` command line.

use super::error::ServerError;
use super::{run, ServerOptions};
use callrec_core::cidr::{AllowList, Cidr};
use lexopt::Arg;
use std::ffi::OsString;
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
  callrec-server verify --storage DIR [--catalog …] [--since DATE] [--no-record]
                 (re-reads the files against their digests; `verify --help`)
  callrec-server device add|list|remove --storage DIR [--catalog …] …
                 (the device registry; `device --help`)
  callrec-server audit verify|export --storage DIR [--catalog …] …
                 (the audit trail: check its chain, export it; `audit --help`)
  callrec-server user add|list|passwd|remove --storage DIR [--catalog …] …
                 (the web side's accounts; the first admin is made here; `user --help`)
  callrec-server token add|list|revoke --storage DIR [--catalog …] …
                 (API tokens; `token --help`)

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
--http: serve the recordings' web page and JSON API there (docs/server-api.md); off without it
--catalog: where the recordings are catalogued: PostgreSQL at that URL, or an SQLite file
  (default: STORAGE/catalog.sqlite)
--reserve: free space (MiB) the storage keeps: below it new sessions are refused (storage_full)
  and running ones end cleanly
one server per storage: a second one on the same DIR is refused (STORAGE/.callrec-server.lock)";

pub fn main(args: Vec<OsString>) -> ExitCode {
    if args.first().is_some_and(|a| a == "verify") {
        return super::verify::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "device") {
        return super::devices::cli::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "audit") {
        return super::audit::cli::main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "user") {
        return super::auth::cli::user_main(args[1..].to_vec());
    }
    if args.first().is_some_and(|a| a == "token") {
        return super::auth::cli::token_main(args[1..].to_vec());
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

fn parse(args: Vec<OsString>) -> Result<ServerOptions, ServerError> {
    let mut p = lexopt::Parser::from_args(args);
    let mut opts = ServerOptions::default();
    let mut listen = None;
    let mut storage = None;
    let mut level = std::env::var("CALLREC_LOG").unwrap_or_else(|_| "info".into());
    let mut allow = Vec::new();
    let text = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| "not UTF-8".to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("listen") => {
                let v = text(&mut p)?;
                listen = Some(v.parse().map_err(|_| format!("bad --listen {v:?}"))?);
            }
            Arg::Long("storage") => storage = Some(text(&mut p)?.into()),
            Arg::Long("rtp-ports") => {
                let v = text(&mut p)?;
                let (lo, hi) = callrec_core::port::parse_range(&v)
                    .ok_or_else(|| format!("bad --rtp-ports {v:?} (LOW-HIGH)"))?;
                opts.rtp_ports = (lo, hi);
            }
            Arg::Long("max-sessions") => {
                opts.max_sessions = text(&mut p)?.parse().map_err(|_| "bad --max-sessions")?;
            }
            Arg::Long("max-sessions-per-address") => {
                opts.max_sessions_per_address = at_least_one(&text(&mut p)?)
                    .ok_or("bad --max-sessions-per-address (1 or more)")?;
            }
            Arg::Long("max-sessions-per-device") => {
                opts.max_sessions_per_device = at_least_one(&text(&mut p)?)
                    .ok_or("bad --max-sessions-per-device (1 or more)")?;
            }
            Arg::Long("allow") => {
                let v = text(&mut p)?;
                allow.push(Cidr::parse(&v).map_err(|e| format!("bad --allow {v:?}: {e}"))?);
            }
            Arg::Long("known-devices-only") => opts.known_devices_only = true,
            Arg::Long("idle-timeout") => {
                let s: u64 = text(&mut p)?.parse().map_err(|_| "bad --idle-timeout")?;
                opts.idle_timeout = Duration::from_secs(s.max(1));
            }
            Arg::Long("no-rtp-timeout") => {
                let s: u64 = text(&mut p)?.parse().map_err(|_| "bad --no-rtp-timeout")?;
                opts.no_rtp_timeout = Duration::from_secs(s.max(1));
            }
            Arg::Long("shards") => {
                let n: usize = text(&mut p)?.parse().map_err(|_| "bad --shards")?;
                opts.shards = n.clamp(1, 64);
            }
            Arg::Long("log") => level = text(&mut p)?,
            Arg::Long("http") => {
                let v = text(&mut p)?;
                opts.http = Some(v.parse().map_err(|_| format!("bad --http {v:?}"))?);
            }
            Arg::Long("catalog") => opts.catalog = Some(text(&mut p)?),
            Arg::Long("reserve") => {
                let v = text(&mut p)?;
                let mib: u64 = v
                    .parse()
                    .ok()
                    .filter(|&m| (1..=1 << 30).contains(&m))
                    .ok_or_else(|| format!("bad --reserve {v:?} (MiB, 1 or more)"))?;
                opts.reserve = mib * super::space::MIB;
            }
            other => return Err(ServerError::usage(other.unexpected().to_string())),
        }
    }
    callrec_platform::logger::init(&level)?;
    opts.listen = listen.ok_or("--listen ADDR:PORT is required")?;
    opts.storage = storage.ok_or("--storage DIR is required")?;
    opts.allow = AllowList::new(allow);
    Ok(opts)
}

/// A whole number from 1 (at most 9 digits).
fn at_least_one(v: &str) -> Option<usize> {
    (v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
        .filter(|&n| n >= 1)
}
