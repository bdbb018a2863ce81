//! The server's configuration file: `/etc/callrec-server/config.toml`, or the file
//! `--config PATH` names. Each key is a flag of the server without its `--` (`listen`,
//! `storage`, `max-sessions`, …: [`KEYS`]); a value is what the flag takes (a string, or a
//! whole number), `true` for a switch (`known-devices-only = true`; `false`: not given), an
//! array of strings for a repeatable flag (`allow`, `http-name`). The flags of the command line
//! override the file: a single value replaces the file's, a repeatable flag given on the
//! command line replaces all of the file's.
//!
//! The file is read into flags ([`Setting`]), parsed by the command line's own parser
//! (`crate::cli`), so a key means exactly what its flag means. An unknown key, a value of the
//! wrong type, a table, or a value its flag refuses is an error that names the file, the line
//! and the key (exit status 2). A missing default file is no error (no settings); a missing
//! file named by `--config` is.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the server looks without `--config`.
pub const DEFAULT_PATH: &str = "/etc/callrec-server/config.toml";
/// The largest file read (a configuration is a few hundred bytes).
const MAX_LEN: u64 = 1 << 20;

/// Every key: the server's flags, without `--`.
pub const KEYS: &[&str] = &[
    "listen",
    "storage",
    "rtp-ports",
    "max-sessions",
    "max-sessions-per-address",
    "max-sessions-per-device",
    "allow",
    "known-devices-only",
    "idle-timeout",
    "no-rtp-timeout",
    "shards",
    "log",
    "http",
    "metrics",
    "tls-cert",
    "tls-key",
    "http-name",
    "allow-plain-http",
    "catalog",
    "reserve",
    "sweep-every",
];

/// The keys that take several values (an array), as their flags may be repeated.
pub const REPEATABLE: &[&str] = &["allow", "http-name"];

/// One key of the file, as the flags it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    /// The line of the key (from 1).
    pub line: usize,
    /// `--key value`, `--key` (a switch), or one `--key value` per element of an array.
    pub args: Vec<OsString>,
    /// A switch set `false`: its flag is only checked, not applied.
    pub check_only: bool,
}

impl Setting {
    /// `what` (a refusal of the flag's parser), said of this key in `file`.
    pub fn error(&self, file: &Path, what: &str) -> String {
        format!(
            "{} line {}: {}: {what}",
            file.display(),
            self.line,
            self.key
        )
    }
}

/// What `--config` and the file give the command line.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The file read (`None`: the default file is absent).
    pub path: Option<PathBuf>,
    pub settings: Vec<Setting>,
    /// The command line without `--config PATH`.
    pub args: Vec<OsString>,
}

/// Takes `--config PATH` (or `--config=PATH`) out of `args` and reads that file, or the
/// default one if it exists. The settings of a repeatable key that `args` gives too are left
/// out (the command line replaces them).
pub fn load(args: Vec<OsString>) -> Result<Loaded, String> {
    let (named, args) = take_config(args)?;
    let (path, explicit) = match named {
        Some(p) => (p, true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    let text = match read(&path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                path: None,
                settings: Vec::new(),
                args,
            })
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut settings = parse(&text).map_err(|e| format!("{}{e}", path.display()))?;
    settings.retain(|s| {
        !(REPEATABLE.contains(&s.key.as_str()) && args.iter().any(|a| names(a, &s.key)))
    });
    Ok(Loaded {
        path: Some(path),
        settings,
        args,
    })
}

fn read(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_LEN + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_LEN {
        return Err(std::io::Error::other("larger than 1 MiB"));
    }
    Ok(text)
}

/// Whether the argument `a` is the flag `--key` (alone or `--key=…`).
fn names(a: &OsString, key: &str) -> bool {
    let Some(a) = a.to_str() else {
        return false;
    };
    a.strip_prefix("--")
        .and_then(|r| r.strip_prefix(key))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
}

fn take_config(args: Vec<OsString>) -> Result<(Option<PathBuf>, Vec<OsString>), String> {
    let mut named = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            let v = it.next().ok_or("--config needs a PATH")?;
            named = Some(PathBuf::from(v));
        } else if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            named = Some(PathBuf::from(v));
        } else {
            rest.push(a);
        }
    }
    if named.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return Err("--config needs a PATH".into());
    }
    Ok((named, rest))
}

/// The settings of a file's text (no I/O). An error starts with the line (` line N: …`),
/// for the caller to put the file's name before.
pub fn parse(text: &str) -> Result<Vec<Setting>, String> {
    use std::collections::BTreeMap;
    use toml::{Spanned, Value};
    let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let table: BTreeMap<Spanned<String>, Spanned<Value>> = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(s.start));
        format!(" line {line}: {}", e.message().trim_end())
    })?;
    let mut out = Vec::new();
    for (key, value) in table {
        let line = line_of(key.span().start);
        let name = key.get_ref().as_str();
        let bad = |what: &str| format!(" line {line}: {name}: {what}");
        if !KEYS.contains(&name) {
            return Err(bad(
                "no such setting (the keys are the server's flags without --)",
            ));
        }
        let flag = OsString::from(format!("--{name}"));
        let scalar = |v: &Value| -> Option<OsString> {
            match v {
                Value::String(s) => Some(s.into()),
                Value::Integer(i) => Some(i.to_string().into()),
                _ => None,
            }
        };
        let (args, check_only) = match value.get_ref() {
            Value::Boolean(b) => (vec![flag], !b),
            Value::Array(items) => {
                if !REPEATABLE.contains(&name) {
                    return Err(bad("takes one value, not an array"));
                }
                let mut args = Vec::new();
                for item in items {
                    let v = scalar(item).ok_or_else(|| bad("an array of strings"))?;
                    args.extend([flag.clone(), v]);
                }
                (args, false)
            }
            v => match scalar(v) {
                Some(s) => (vec![flag, s], false),
                None => return Err(bad("a string, a whole number or true")),
            },
        };
        out.push(Setting {
            key: name.to_string(),
            line,
            args,
            check_only,
        });
    }
    out.sort_by_key(|s| s.line);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &Setting) -> Vec<&str> {
        s.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn keys_become_the_flags_they_name() {
        let text = "# a comment\nlisten = \"0.0.0.0:5060\"\nmax-sessions = 100\n\n\
                    known-devices-only = true\nallow-plain-http = false\n\
                    allow = [\"192.0.2.0/24\", \"198.51.100.7\"]\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!((s[0].key.as_str(), s[0].line), ("listen", 2));
        assert_eq!(args(&s[0]), ["--listen", "0.0.0.0:5060"]);
        assert_eq!(args(&s[1]), ["--max-sessions", "100"]);
        assert_eq!(args(&s[2]), ["--known-devices-only"]);
        assert!(!s[2].check_only && s[3].check_only);
        assert_eq!(
            args(&s[4]),
            ["--allow", "192.0.2.0/24", "--allow", "198.51.100.7"]
        );
        assert_eq!(s[4].line, 7);
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_syntax_name_their_line() {
        for (text, want) in [
            (
                "listen = \"x\"\nlisen = \"y\"\n",
                " line 2: lisen: no such setting",
            ),
            ("\n\nconfig = \"/x\"\n", " line 3: config: no such setting"),
            (
                "shards = 1.5\n",
                " line 1: shards: a string, a whole number or true",
            ),
            ("listen = [\"a\"]\n", " line 1: listen: takes one value"),
            ("allow = [1.5]\n", " line 1: allow: an array of strings"),
            (
                "[server]\nlisten = \"x\"\n",
                " line 1: server: no such setting",
            ),
            ("listen = \"a\"\nlisten = \"b\"\n", " line 2: "),
            ("listen = \n", " line 1: "),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn config_is_taken_out_of_the_command_line() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let (p, rest) = take_config(a(&["--listen", "x", "--config", "/c.toml"])).unwrap();
        assert_eq!(p, Some(PathBuf::from("/c.toml")));
        assert_eq!(rest, a(&["--listen", "x"]));
        let (p, _) = take_config(a(&["--config=/d.toml"])).unwrap();
        assert_eq!(p, Some(PathBuf::from("/d.toml")));
        assert!(take_config(a(&["--config"])).is_err());
        assert!(names(&"--allow=1.2.3.4".into(), "allow"));
        assert!(names(&"--allow".into(), "allow"));
        assert!(!names(&"--allow-plain-http".into(), "allow"));
    }

    #[test]
    fn every_flag_of_the_server_is_a_key() {
        // The command line's parser names each flag once, as `Arg::Long("NAME")`.
        let cli = include_str!("cli.rs");
        let mut flags: Vec<&str> = cli
            .split("Arg::Long(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        flags.sort_unstable();
        flags.dedup();
        let mut keys = KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(
            flags, keys,
            "a flag of cli.rs without its key here, or the reverse"
        );
    }
}
