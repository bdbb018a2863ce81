//! The Markdown tables the benchmarks print and write, and the lines around them: commands as a
//! shell takes them, the machine they ran on.

/// A table with a header row; cells are taken as they are (no escaping of `|`).
pub fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.as_ref().join(" | ")));
    }
    out
}

/// KiB as MiB with one decimal ("12.3 MiB").
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A figure as printf's `%g` writes it, for the lengths and times of reports: six significant
/// digits, without trailing zeros (`10`, `2.5`, `0.333333`); outside 1e-4 to 1e15, Rust's own
/// shortest form.
pub fn g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || !(1e-4..1e15).contains(&x.abs()) {
        return format!("{x}");
    }
    let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A word as `sh` reads it back unchanged: as it is if it holds only letters, digits and
/// `@%+=:,./-_` (and is not empty), otherwise in single quotes (a `'` as `'"'"'`).
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r#"'"'"'"#))
}

/// `argv` as one command line for a report: each word as [`shell_word`] writes it, and the
/// temporary directory `tmp` wherever it occurs as `$TMP` (outside any quotes, so the line
/// still runs with `TMP` set).
pub fn command_line<S: AsRef<str>>(argv: &[S], tmp: &std::path::Path) -> String {
    let tmp = tmp.display().to_string();
    let word = |w: &str| {
        if tmp.is_empty() || !w.contains(tmp.as_str()) {
            return shell_word(w);
        }
        w.split(tmp.as_str())
            .enumerate()
            .map(|(i, piece)| {
                // After `$TMP`, a piece that could continue the variable's name is quoted.
                let joins =
                    i > 0 && piece.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                match piece {
                    "" => String::new(),
                    p if joins => format!("'{}'", p.replace('\'', r#"'"'"'"#)),
                    p => shell_word(p),
                }
            })
            .collect::<Vec<_>>()
            .join("$TMP")
    };
    argv.iter()
        .map(|w| word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The machine a report was measured on: `Linux 6.1.0 x86_64, 2 CPU(s)` (uname's system,
/// release and machine, and the CPUs online).
pub fn host() -> String {
    // SAFETY: uname fills the zeroed struct we own; its fields are NUL-terminated strings.
    let (system, release, machine) = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "unknown host".to_string();
        }
        let text = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        (text(&u.sysname), text(&u.release), text(&u.machine))
    };
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    format!("{system} {release} {machine}, {cpus} CPU(s)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_its_header_rule_and_rows() {
        let rows = vec![vec!["a".to_string(), "1".to_string()]];
        assert_eq!(
            table(&["name", "n"], &rows),
            "| name | n |\n|---|---|\n| a | 1 |\n"
        );
        assert_eq!(mib(1536), "1.5 MiB");
    }

    #[test]
    fn command_lines_quote_what_the_shell_would_change_and_name_the_temporary_directory() {
        assert_eq!(shell_word("a-b/c.d=1,2"), "a-b/c.d=1,2");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("start|stop"), "'start|stop'");
        assert_eq!(shell_word("it's"), r#"'it'"'"'s'"#);
        let tmp = std::path::Path::new("/tmp/x.1");
        let argv = [
            "ctl",
            "--control-socket",
            "/tmp/x.1/a/ctl.sock",
            "/tmp/x.1/a b",
            "/tmp/x.1y",
        ];
        assert_eq!(
            command_line(&argv, tmp),
            "ctl --control-socket $TMP/a/ctl.sock $TMP'/a b' $TMP'y'"
        );
        assert!(host().contains("CPU(s)"));
    }

    #[test]
    fn figures_are_written_like_printf_g() {
        assert_eq!(g(10.0), "10");
        assert_eq!(g(500.0 * 0.02), "10");
        assert_eq!(g(2.5), "2.5");
        assert_eq!(g(60.0), "60");
        assert_eq!(g(1.0 / 3.0), "0.333333");
        assert_eq!(g(-4.25), "-4.25");
        assert_eq!(g(0.0), "0");
        assert_eq!(g(123456.7), "123457");
    }
}
