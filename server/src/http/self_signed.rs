//! `callrec-server tls self-signed`: a certificate and key for the web side when the site has
//! none of its own (the Debian package runs it at install). The key file is created with mode
//! 0600 and never overwritten; the browser will warn until the certificate is trusted or
//! replaced by one from the site's certificate authority.

use super::tls;
use lexopt::Arg;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const USAGE: &str = "\
usage: callrec-server tls self-signed --cert FILE --key FILE --name NAME... [--days N]

Makes a self-signed certificate (ECDSA P-256) for the names (DNS names or IP addresses; the
first is also its common name) and its private key, as PEM files for --tls-cert and --tls-key.
Neither file may exist yet; the key is written with mode 0600. --days: how long it is valid
(default 3650). Exit 0 made, 1 a file could not be written, 2 usage.";

pub fn main(args: Vec<OsString>) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match parse(args) {
        Ok(ask) => match make(&ask) {
            Ok(()) => {
                println!(
                    "self-signed certificate for {} in {}, its key in {}",
                    ask.names.join(", "),
                    ask.cert.display(),
                    ask.key.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("callrec-server tls: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("callrec-server tls: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

struct Ask {
    cert: PathBuf,
    key: PathBuf,
    names: Vec<String>,
    days: u32,
}

fn parse(args: Vec<OsString>) -> Result<Ask, String> {
    let mut p = lexopt::Parser::from_args(args);
    match p.next().map_err(|e| e.to_string())? {
        Some(Arg::Value(v)) if v == "self-signed" => {}
        _ => return Err("the only tls command is self-signed".into()),
    }
    let (mut cert, mut key, mut names, mut days) = (None, None, Vec::new(), 3650);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let value = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value()
                .map_err(|e| e.to_string())?
                .into_string()
                .map_err(|_| "not UTF-8".to_string())
        };
        match arg {
            Arg::Long("cert") => cert = Some(PathBuf::from(value(&mut p)?)),
            Arg::Long("key") => key = Some(PathBuf::from(value(&mut p)?)),
            Arg::Long("name") => {
                let v = value(&mut p)?;
                // The same rule as --http-name: a name or an address, no port.
                match super::host::configured(&v) {
                    Ok(super::host::Host::Name(n)) => names.push(n),
                    Ok(super::host::Host::Ip(ip)) => names.push(ip.to_string()),
                    Err(_) => return Err(format!("bad --name {v:?}: a DNS name or an address")),
                }
            }
            Arg::Long("days") => {
                let v = value(&mut p)?;
                days = v
                    .parse()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or_else(|| format!("bad --days {v:?} (1 to 36500)"))?;
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if names.is_empty() {
        return Err("--name NAME is required (the host name browsers will use)".into());
    }
    Ok(Ask {
        cert: cert.ok_or("--cert FILE is required")?,
        key: key.ok_or("--key FILE is required")?,
        names,
        days,
    })
}

fn make(ask: &Ask) -> Result<(), String> {
    let pair = tls::self_signed(
        &ask.names,
        callrec_platform::clock::unix_seconds(),
        ask.days,
    )?;
    write_new(&ask.key, pair.key_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&ask.cert, pair.cert_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&ask.key);
        return Err(e);
    }
    Ok(())
}

/// Writes a file that must not exist yet, created with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(fail)
}
