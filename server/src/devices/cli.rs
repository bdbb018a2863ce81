//! `callrec-server device add|list|remove`: the device registry on the console.
//!
//! The commands work beside a server running on the same storage: they write only the
//! registry's tables of the catalog, each change one transaction (SQLite in WAL mode lets them
//! in beside the server's connections, PostgreSQL is shared anyway), and the server reads the
//! change within a second ([`super::Refresher`]). They take no lock: the storage's lock belongs
//! to the running server (a command that waited for it would wait as long as the server runs),
//! and nothing here touches the recordings or the day folders.
//!
//! A catalog that does not exist yet is created (so devices can be registered before the
//! first start with `--known-devices-only`), and an older one is brought to this version, as a
//! server's start would.
//!
//! Every change is written to the audit trail (`device_add`, `device_change`, `device_remove`,
//! by `console:USER@HOST`) in the change's own transaction: a change whose entry cannot be
//! written is not made.
//!
//! Exit status: 0 done; 1 `remove` of a device that is not registered; 2 the command line (a
//! bad MAC or field, an unknown option); 3 the catalog could not be opened or used.

use super::{extension, group, owner};
use crate::audit::{self, Action, Event};
use crate::catalog::db::Conn;
use crate::catalog::{schema, sql, CatalogSpec, Device};
use crate::cli::console;
pub use crate::cli::console::Failure;
use crate::http::recording::local_text;
use callrec_core::mac::Mac;
use lexopt::Arg;
use serde_json::json;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub const USAGE: &str = "\
usage:
  callrec-server device add --storage DIR [--catalog postgres://USER@HOST/DB | FILE] MAC
                            --owner NAME [--extension EXT] [--group GROUP]
  callrec-server device list --storage DIR [--catalog …]
  callrec-server device remove --storage DIR [--catalog …] MAC

The device registry: who has the phone with this MAC. A recording started by a registered
device keeps its owner, extension and group (the page, the API, the `owner` and `group`
filters); with `--known-devices-only` the server refuses every other device (unknown_device).
Safe beside a server running on DIR: a change is in effect there within a second.
MAC: 001565AABBCC, 00:15:65:AA:BB:CC, 00-15-65-AA-BB-CC or 0015.65AA.BBCC (either case)
add: registers the device, or replaces its entry
every change is an entry of the audit trail (`callrec-server audit --help`)
--catalog: as the server's (default: DIR/catalog.sqlite, created if there is none)
exit status: 0 done, 1 remove: no such device, 2 usage, 3 the catalog could not be used";

/// What the command line asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Add {
        mac: Mac,
        owner: String,
        extension: String,
        group: String,
    },
    List,
    Remove(Mac),
}

/// The whole command line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub storage: PathBuf,
    pub catalog: Option<String>,
    pub command: Command,
}

/// `callrec-server device ARGS`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    console::run("device", USAGE, parse(args), |opts| {
        run(&opts, &mut std::io::stdout().lock())
    })
}

/// The options, or `None` for `--help`.
pub fn parse(args: Vec<OsString>) -> Result<Option<Options>, String> {
    let mut p = lexopt::Parser::from_args(args);
    let mut storage = None;
    let mut catalog = None;
    let mut verb: Option<String> = None;
    let mut mac: Option<String> = None;
    let (mut owner_v, mut extension_v, mut group_v) = (None, None, None);
    let mut level = std::env::var("CALLREC_LOG").unwrap_or_else(|_| "warn".into());
    let text = |v: OsString| v.into_string().map_err(|_| "not UTF-8".to_string());
    let value = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value().map_err(|e| e.to_string()).and_then(text)
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("help") | Arg::Short('h') => return Ok(None),
            Arg::Long("storage") => storage = Some(PathBuf::from(value(&mut p)?)),
            Arg::Long("catalog") => catalog = Some(value(&mut p)?),
            Arg::Long("owner") => owner_v = Some(value(&mut p)?),
            Arg::Long("extension") => extension_v = Some(value(&mut p)?),
            Arg::Long("group") => group_v = Some(value(&mut p)?),
            Arg::Long("log") => level = value(&mut p)?,
            Arg::Value(v) if verb.is_none() => verb = Some(text(v)?),
            Arg::Value(v) if mac.is_none() => mac = Some(text(v)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    callrec_platform::logger::init(&level).map_err(|e| e.to_string())?;
    let verb = verb.ok_or("add, list or remove?")?;
    let storage = storage.ok_or("--storage DIR is required")?;
    let the_mac = |mac: Option<String>| -> Result<Mac, String> {
        let m = mac.ok_or("the device's MAC is required")?;
        Mac::parse(&m).ok_or_else(|| {
            format!(
                "{m:?} is not a MAC (12 hex digits, alone or as 00:15:65:AA:BB:CC, \
                 00-15-65-AA-BB-CC or 0015.65AA.BBCC)"
            )
        })
    };
    let only_add = |what: &str, given: bool| {
        if given {
            Err(format!("{what} is for `device add`"))
        } else {
            Ok(())
        }
    };
    let command = match verb.as_str() {
        "add" => Command::Add {
            mac: the_mac(mac)?,
            owner: owner(&owner_v.ok_or("--owner NAME is required")?)?,
            extension: extension(extension_v.as_deref().unwrap_or(""))?,
            group: group(group_v.as_deref().unwrap_or(""))?,
        },
        "list" | "remove" => {
            only_add("--owner", owner_v.is_some())?;
            only_add("--extension", extension_v.is_some())?;
            only_add("--group", group_v.is_some())?;
            if verb == "list" {
                if let Some(m) = mac {
                    return Err(format!("unexpected argument {m:?}"));
                }
                Command::List
            } else {
                Command::Remove(the_mac(mac)?)
            }
        }
        other => return Err(format!("unknown command {other:?}: add, list or remove")),
    };
    Ok(Some(Options {
        storage,
        catalog,
        command,
    }))
}

/// Opens the catalog of `opts`, creating it or bringing it to this version if need be.
fn open(opts: &Options) -> Result<Box<dyn Conn>, Failure> {
    if !opts.storage.is_dir() {
        return Err(Failure::Catalog(format!(
            "storage {}: not a directory",
            opts.storage.display()
        )));
    }
    let spec = CatalogSpec::parse(opts.catalog.as_deref(), &opts.storage);
    let mut conn = spec.connect()?;
    schema::migrate(conn.as_mut())
        .map_err(|e| Failure::Catalog(format!("{}: {e}", spec.describe())))?;
    Ok(conn)
}

/// Carries out the command; what it says goes to `out`.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<(), Failure> {
    let mut conn = open(opts)?;
    let say = |out: &mut dyn Write, line: String| {
        let _ = writeln!(out, "{line}");
    };
    match &opts.command {
        Command::Add {
            mac,
            owner,
            extension,
            group,
        } => {
            let device = Device {
                mac: mac.to_string(),
                owner: owner.clone(),
                extension: extension.clone(),
                group: group.clone(),
                updated_ms: crate::media::unix_ms(),
            };
            let now = i64::try_from(device.updated_ms).unwrap_or(i64::MAX);
            let (before, _) = audit::store::with_change(conn.as_mut(), now, |c| {
                let before = sql::put_device_in(c, &device)?;
                let (action, what) = match &before {
                    None => (
                        Action::DEVICE_ADD,
                        json!({ "device": fields_json(&device) }),
                    ),
                    Some(b) => (
                        Action::DEVICE_CHANGE,
                        json!({ "device": fields_json(&device), "before": fields_json(b) }),
                    ),
                };
                Ok((before, Some(Event::console(action, what))))
            })?;
            match before {
                None => say(out, format!("added {}", describe(&device))),
                Some(before) => say(
                    out,
                    format!("updated {} (was {})", describe(&device), fields(&before)),
                ),
            }
        }
        Command::List => list(&sql::devices(conn.as_mut())?, out),
        Command::Remove(mac) => {
            let now = i64::try_from(crate::media::unix_ms()).unwrap_or(i64::MAX);
            let (before, _) = audit::store::with_change(conn.as_mut(), now, |c| {
                let before = sql::remove_device_in(c, &mac.to_string())?;
                let event = before.as_ref().map(|b| {
                    Event::console(Action::DEVICE_REMOVE, json!({ "device": fields_json(b) }))
                });
                Ok((before, event))
            })?;
            match before {
                Some(before) => say(out, format!("removed {}", describe(&before))),
                None => return Err(Failure::Refused(format!("{mac} is not in the registry"))),
            }
        }
    }
    Ok(())
}

/// A device's fields as the audit trail records them.
pub(crate) fn fields_json(d: &Device) -> serde_json::Value {
    json!({ "mac": d.mac, "owner": d.owner, "extension": d.extension, "group": d.group })
}

fn describe(d: &Device) -> String {
    format!("{}: {}", d.mac, fields(d))
}

fn fields(d: &Device) -> String {
    format!(
        "owner {:?}, extension {:?}, group {:?}",
        d.owner, d.extension, d.group
    )
}

/// The registry as a table: a header, then one device a line, in columns.
fn list(devices: &[Device], out: &mut dyn Write) {
    let rows: Vec<[String; 5]> = devices
        .iter()
        .map(|d| {
            [
                d.mac.clone(),
                d.owner.clone(),
                d.extension.clone(),
                d.group.clone(),
                local_text(d.updated_ms),
            ]
        })
        .collect();
    let header = ["MAC", "OWNER", "EXTENSION", "GROUP", "UPDATED"].map(String::from);
    let mut width = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = width[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_command_line_is_read_strictly() {
        let o = parse(args(&[
            "add",
            "--storage",
            "/s",
            "00:15:65:aa:bb:cc",
            "--owner",
            " Anna ",
            "--group",
            "Sales",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.storage, PathBuf::from("/s"));
        assert_eq!(
            o.command,
            Command::Add {
                mac: Mac::parse("001565AABBCC").unwrap(),
                owner: "Anna".into(),
                extension: String::new(),
                group: "Sales".into(),
            }
        );
        let o = parse(args(&["remove", "0015.65aa.bbcc", "--storage", "/s"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            o.command,
            Command::Remove(Mac::parse("001565AABBCC").unwrap())
        );
        assert_eq!(
            parse(args(&["list", "--storage", "/s"]))
                .unwrap()
                .unwrap()
                .command,
            Command::List
        );
        assert_eq!(parse(args(&["list", "--help"])).unwrap(), None);
        for bad in [
            &["add", "--storage", "/s", "00:15:65:aa:bb", "--owner", "A"][..],
            &["add", "--storage", "/s", "001565AABBCC"],
            &["add", "--storage", "/s", "001565AABBCC", "--owner", " "],
            &["add", "001565AABBCC", "--owner", "A"],
            &["add", "--storage", "/s", "--owner", "A"],
            &[
                "add",
                "--storage",
                "/s",
                "001565AABBCC",
                "--owner",
                "A",
                "x",
            ],
            &["remove", "--storage", "/s"],
            &["remove", "--storage", "/s", "zz"],
            &["remove", "--storage", "/s", "001565AABBCC", "--owner", "A"],
            &["list", "--storage", "/s", "001565AABBCC"],
            &["list", "--storage", "/s", "--bogus"],
            &["rename", "--storage", "/s"],
            &["--storage", "/s"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_list_is_in_columns() {
        let d = |mac: &str, owner: &str, ext: &str, group: &str| Device {
            mac: mac.into(),
            owner: owner.into(),
            extension: ext.into(),
            group: group.into(),
            updated_ms: 0,
        };
        let mut out = Vec::new();
        list(
            &[
                d("001565AABBCC", "Anna Schmidt", "1001", "Sales"),
                d("001565AABBCD", "张三", "", ""),
            ],
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let when = local_text(0);
        assert_eq!(
            lines,
            [
                "MAC           OWNER         EXTENSION  GROUP  UPDATED".to_string(),
                format!("001565AABBCC  Anna Schmidt  1001       Sales  {when}"),
                format!(
                    "001565AABBCD  张三{}{when}",
                    " ".repeat(10 + 2 + 9 + 2 + 5 + 2)
                ),
            ]
        );
    }
}
