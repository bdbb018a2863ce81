//! The report: the summary table (the largest level that counted, its CPU and memory per
//! stream, ffmpeg's cost and the ratio), every level's row, where time went in each level, the
//! commands (with the work directory as `$TMP`) and the host. Also the console's one-line
//! account of a level's waits. Printed and written to target/bench-server.md.

use crate::ffmpeg::{FfmpegRun, FFMPEG_BASE};
use crate::level::{Level, SENDER_KEPT_UP};
use crate::Options;
use callrec_tools::markdown::table;
use std::path::Path;

/// A number as Python's `%g` writes it: 6 significant digits, no trailing zeros.
pub fn g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let exp = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        let s = format!("{:.5e}", x);
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = trim_zeros(mantissa);
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// An integer with thousands separators ("99,986").
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A share as a percentage with `decimals` decimals ("97%", "2.6%").
pub fn pct(share: f64, decimals: usize) -> String {
    format!("{:.decimals$}%", share * 100.0)
}

/// KiB, or MiB from 1024 KiB on.
pub fn kib(x: f64) -> String {
    if x < 1024.0 {
        format!("{x:.1} KiB")
    } else {
        format!("{:.2} MiB", x / 1024.0)
    }
}

/// One word for a POSIX shell, quoted only if it needs it.
pub fn shell_word(w: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !w.is_empty() && w.chars().all(safe) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r#"'"'"'"#))
    }
}

/// A command line as the report shows it: the work directory as `$TMP`, paths relative to
/// the current directory, the server's control address as `127.0.0.1:PORT`.
pub fn command_text(argv: &[String], workdir: &Path, cwd: &Path) -> String {
    let mut text = argv
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    text = text.replace(&workdir.display().to_string(), "$TMP");
    text = text.replace(&format!("{}/", cwd.display()), "");
    if let Some(i) = argv.iter().position(|w| w == "--server") {
        if let Some(addr) = argv.get(i + 1) {
            text = text.replace(addr.as_str(), "127.0.0.1:PORT");
        }
    }
    text
}

/// A level's waits in one line (the console's and the report's "where time went").
pub fn describe_waits(lv: &Level) -> String {
    let join = |v: Vec<String>, sep: &str| v.join(sep);
    let blocked = join(
        lv.blocked
            .iter()
            .map(|(k, v)| format!("{k} {}", pct(*v, 1)))
            .collect(),
        ", ",
    );
    let blocked = if blocked.is_empty() {
        "never".into()
    } else {
        blocked
    };
    let mem = join(
        lv.samples
            .peak_mem
            .iter()
            .map(|(k, v)| format!("{k} {:.0} MiB", *v as f64 / 1024.0))
            .collect(),
        ", ",
    );
    let trace = join(
        lv.samples
            .rx_queue_trace
            .iter()
            .map(|(t, q)| format!("{}s:{q}", g(*t)))
            .collect(),
        " ",
    );
    let psi = join(
        lv.psi
            .iter()
            .map(|(k, v)| format!("{k} {}", pct(*v, 1)))
            .collect(),
        ", ",
    );
    let behind: Vec<String> = lv.summary["pacing"]["seconds_over_20ms_late"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| format!("{}s:{}ms", p[0], g(p[1].as_f64().unwrap_or(0.0))))
                .collect()
        })
        .unwrap_or_default();
    let mut behind_text = behind
        .iter()
        .take(12)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if behind_text.is_empty() {
        behind_text = "none".into();
    }
    if behind.len() > 12 {
        behind_text += &format!(" … ({} seconds)", behind.len());
    }
    let or_q = |s: String| if s.is_empty() { "?".to_string() } else { s };
    format!(
        "server threads in D state: {blocked}; peak {}; pressure stall (share of the window) {}; \
         steal {:.2} s; the sampler's longest oversleep {:.0} ms at {} s; loadgen seconds with \
         a slot over 20 ms late: {behind_text}; fullest rx queue (window s: bytes): {}; \
         /proc/net/udp: {} line(s) repeating a socket, {} port(s) with two sockets in one \
         reading only{}",
        or_q(mem),
        or_q(psi),
        lv.steal_s,
        lv.samples.max_oversleep.0 * 1000.0,
        g(lv.samples.max_oversleep.1),
        or_q(trace),
        lv.udp_repeated,
        lv.udp_transient,
        shared_text(lv)
    )
}

/// The ports two sockets held at once, with the sockets, or nothing.
fn shared_text(lv: &Level) -> String {
    if lv.shared_ports.is_empty() {
        return String::new();
    }
    let ports: Vec<String> = lv
        .shared_ports
        .iter()
        .map(|(p, s)| format!("{p} ({s})"))
        .collect();
    format!("; ports bound by two sockets at once: {}", ports.join("; "))
}

/// What happened to the first level above the largest that counted.
pub fn above_note(levels: &[Level]) -> String {
    let clean = levels
        .iter()
        .filter(|l| l.clean())
        .map(|l| l.n)
        .max()
        .unwrap_or(0);
    let Some(lv) = levels.iter().find(|l| !l.clean() && l.n > clean) else {
        return String::new();
    };
    if lv.passed {
        return format!(
            " ({} held too, but the loadgen delivered only {} of its packet rate: the 2 CPUs were saturated)",
            lv.n,
            pct(lv.sender_share(), 0)
        );
    }
    format!(
        " ({} failed: {})",
        lv.n,
        lv.problems.kinds().collect::<Vec<_>>().join("; ")
    )
}

/// What the report needs besides the levels and the ffmpeg run.
pub struct Context<'a> {
    pub options: &'a Options,
    /// Levels not tried.
    pub untried: &'a [u32],
    /// After the largest level that counted: why nothing above it counted.
    pub top_note: &'a str,
    pub workdir: &'a Path,
    pub cwd: &'a Path,
    /// The last line: the machine and the build ([`crate::host::line`]).
    pub host: String,
}

fn level_row(lv: &Level) -> Vec<String> {
    let threads: Vec<String> = lv
        .threads_pct
        .iter()
        .filter(|(_, v)| **v >= 0.5)
        .map(|(k, v)| {
            let name = k.split('/').next().unwrap_or(k);
            let peak = lv.samples.peak_thread_pct.get(k).copied().unwrap_or(0.0);
            format!("{name} {v:.0}% ({peak:.0}%)")
        })
        .collect();
    let f = |v: &serde_json::Value, path: &[&str]| crate::events::f(v, path);
    vec![
        lv.n.to_string(),
        lv.verdict(),
        format!("{} ({})", thousands(lv.pps()), pct(lv.sender_share(), 0)),
        format!("{:.1}", lv.cpu_pct()),
        format!("{:.4}%", lv.cpu_pct() / f64::from(lv.n)),
        format!("{:.2}", lv.us_per_packet()),
        kib(lv.rss_per_session_kib()),
        threads.join(", "),
        format!(
            "{} / {} / {} B",
            lv.snmp
                .get("RcvbufErrors")
                .map_or("?".to_string(), i64::to_string),
            lv.socket_drops,
            lv.peak_rx_queue
        ),
        format!(
            "{:.2} / {:.2} ms",
            f(&lv.summary, &["pacing", "end_late_ms", "p99"]),
            f(&lv.summary, &["pacing", "end_late_ms", "max"])
        ),
        format!("{:.0}%", lv.loadgen_cpu_pct),
        format!(
            "{:.0}/s, p99 {:.1} ms",
            f(&lv.started, &["start_rate_per_s"]),
            f(&lv.started, &["start_latency_ms", "p99"])
        ),
    ]
}

/// The whole report, in Markdown.
pub fn markdown(levels: &[Level], ff: Option<&FfmpegRun>, cx: &Context) -> String {
    let o = cx.options;
    let best = levels.iter().rfind(|l| l.clean());
    let target_ok = best.is_some_and(|b| b.n >= o.target);
    let pass = if target_ok { "pass" } else { "fail" };
    let seconds = g(o.seconds);
    let per_stream = best.map_or(0.0, |b| b.cpu_pct() / f64::from(b.n));
    let ratio = match (best, ff) {
        (Some(_), Some(ff)) if ff.cpu_pct_per_stream() != 0.0 => {
            Some(per_stream / ff.cpu_pct_per_stream())
        }
        _ => None,
    };
    let mut out = vec![
        "# bench-server: callrec-server under concurrent 20 ms G.711 sessions".to_string(),
        String::new(),
        format!(
            "{seconds} s of 20 ms PCMA RTP (172-byte packets, 50/s) per session, from `loadgen` \
             in a second process on loopback. A level holds if every session started and \
             stopped, and every sidecar and file shows all the packets sent received and \
             recorded: lost, late, duplicates 0, the file complete. It counts if, besides, the \
             loadgen delivered at least {} of N × 50 packets/s over the window (on 2 CPUs the \
             loadgen and the server compete; a late sender never skips a packet, it falls \
             behind). Levels are tried in order ({}) up to the first that does not count, then \
             bisected between the last that did and it.",
            pct(SENDER_KEPT_UP, 0),
            o.counts_text
                .replace(',', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        String::new(),
    ];
    let target = thousands(f64::from(o.target));
    let mut summary: Vec<Vec<String>> = Vec::new();
    let row = |cells: [&str; 4]| cells.map(String::from).to_vec();
    if let Some(b) = best {
        summary.push(row([
            &format!("max concurrent sessions held {seconds} s (zero loss, every file complete)"),
            &format!("**{}**{}", b.n, cx.top_note),
            &format!("≥ {target}"),
            pass,
        ]));
        summary.push(row([
            "packets/s at that count",
            &thousands(b.pps()),
            &format!("≥ {}", thousands(f64::from(o.target) * 50.0)),
            pass,
        ]));
        summary.push(row([
            "server CPU at that count (utime+stime)",
            &format!("{:.1}% of one core", b.cpu_pct()),
            "—",
            "info",
        ]));
        summary.push(row([
            "server CPU per stream",
            &format!("{per_stream:.4}% of one core"),
            "—",
            "info",
        ]));
        summary.push(row([
            "server CPU per packet",
            &format!("{:.2} µs", b.us_per_packet()),
            "—",
            "info",
        ]));
        summary.push(row([
            "server memory per session (VmRSS growth / sessions)",
            &format!(
                "{} ({} idle → {})",
                kib(b.rss_per_session_kib()),
                kib(b.idle_rss_kib as f64),
                kib(b.end_rss_kib as f64)
            ),
            "—",
            "info",
        ]));
    } else {
        summary.push(row([
            &format!("max concurrent sessions held {seconds} s"),
            "none of the levels",
            &format!("≥ {target}"),
            "fail",
        ]));
    }
    if let Some(ff) = ff {
        let verdict = if ff.problems.is_empty() {
            "info".to_string()
        } else {
            format!(
                "fail: {}",
                ff.problems.kinds().collect::<Vec<_>>().join(", ")
            )
        };
        summary.push(row([
            &format!(
                "`ffmpeg -c copy` CPU per stream ({} processes, one stream each)",
                ff.m
            ),
            &format!(
                "{:.4}% of one core ({:.1} µs per packet; {} RSS each; {}/{} outputs complete)",
                ff.cpu_pct_per_stream(),
                ff.us_per_packet(),
                kib(ff.rss_kib as f64 / f64::from(ff.m)),
                ff.complete,
                ff.m
            ),
            "—",
            &verdict,
        ]));
        summary.push(row([
            "CPU per stream, callrec-server / ffmpeg",
            &ratio.map_or("—".to_string(), |r| {
                format!("{r:.4} (ffmpeg costs {:.0}×)", 1.0 / r)
            }),
            "—",
            "info",
        ]));
    }
    out.push(table(&["metric", "value", "target", "pass/fail"], &summary));
    out.push("Every level:".into());
    out.push(String::new());
    let rows: Vec<Vec<String>> = levels.iter().map(level_row).collect();
    out.push(table(
        &[
            "sessions",
            "result",
            "packets/s (of N × 50)",
            "server CPU (% of a core)",
            "per stream",
            "µs/packet",
            "memory/session",
            "per thread, window avg (peak 1 s)",
            "UDP RcvbufErrors Δ / server socket drops / fullest rx queue",
            "sender end lateness p99 / max",
            "loadgen CPU",
            "session starts",
        ],
        &rows,
    ));
    out.push(
        "Where time went, per level: the share of 0.25 s samples a server thread was blocked in \
         the kernel (state D, with its wait channel); the page cache's peak dirty and writeback \
         memory; /proc/pressure stall time (some/full) and CPU steal over the window; how late \
         the bench's own 0.25 s sampler woke at worst (a machine-wide stall); the seconds of \
         the window in which a loadgen slot finished over 20 ms late; the fullest server \
         socket receive queue (bytes; every 0.5 s for 6 s, then every 2 s; 832 B per queued \
         packet, the buffer is 2 × 256 KiB = 512 KiB as the kernel counts it)."
            .into(),
    );
    out.push(String::new());
    for lv in levels {
        out.push(format!("- {}: {}", lv.n, describe_waits(lv)));
    }
    if !cx.untried.is_empty() {
        out.push(String::new());
        out.push(format!(
            "Not tried: {} (after a failure, over the open-file or port limit, or over the time \
             budget).",
            cx.untried
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let warnings: Vec<&String> = levels
        .iter()
        .flat_map(|l| l.server_warnings.iter().take(3))
        .take(12)
        .collect();
    if !warnings.is_empty() {
        out.push(String::new());
        out.push("Server warnings (first of each level):".into());
        out.push(String::new());
        out.push("```".into());
        out.extend(warnings.into_iter().cloned());
        out.push("```".into());
    }
    out.push(String::new());
    out.push(
        "CPU per stream = the server's utime + stime over the window / window / sessions (% of \
         one core); µs per packet = the same CPU time / packets sent in the window. Memory per \
         session = (VmRSS at the window's end − VmRSS of the idle server) / sessions. The \
         window runs from the loadgen's first deadline to one period after its last tick; the \
         session starts (ramped) and stops are outside it. On loopback the kernel's UDP receive \
         path runs in the sender's softirq and is charged to the sender (the loadgen) for the \
         server and ffmpeg alike (this kernel has no IRQ time accounting). Sender lateness: how \
         long after its deadline each 2 ms slot finished sending; the loadgen never skips a \
         tick. Method: tools/src/bin/callrec-bench-server/ (callrec-bench-server)."
            .into(),
    );
    out.push(String::new());
    out.push(format!(
        "Commands ($TMP: a temporary directory under target/, on the real disk, kept through \
         the run and removed at its end; the open-file limit raised with `ulimit -n` first; \
         PORT: the control port the server printed; sK: stream K of the M ffmpeg processes, \
         its RTP on {FFMPEG_BASE} + 2K):"
    ));
    out.push(String::new());
    out.push("```".into());
    out.extend(o.command.iter().cloned());
    let cmd = |argv: &[String]| command_text(argv, cx.workdir, cx.cwd);
    if let Some(lv) = best.or(levels.last()) {
        out.push(cmd(&lv.server_argv));
        out.push(cmd(&lv.loadgen_argv));
    }
    if let Some(ff) = ff {
        out.push(cmd(&ff.argv).replace(&format!("s{}.", ff.m - 1), "sK."));
        out.push(cmd(&ff.loadgen_argv));
    }
    out.push("```".into());
    out.push(String::new());
    out.push(cx.host.clone());
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_the_python_report_wrote_them() {
        assert_eq!(g(10.0), "10");
        assert_eq!(g(0.5), "0.5");
        assert_eq!(g(0.1 + 0.2), "0.3");
        assert_eq!(g(400.0), "400");
        assert_eq!(g(25.4), "25.4");
        assert_eq!(g(1_000_000.0), "1e+06");
        assert_eq!(thousands(99_985.6), "99,986");
        assert_eq!(thousands(2000.0), "2,000");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(pct(0.97, 0), "97%");
        assert_eq!(pct(0.026, 1), "2.6%");
        assert_eq!(kib(90.94), "90.9 KiB");
        assert_eq!(kib(2867.2), "2.80 MiB");
    }

    #[test]
    fn commands_show_tmp_relative_paths_and_port() {
        let argv: Vec<String> = [
            "/w/target/release/callrec-loadgen",
            "--server",
            "127.0.0.1:41234",
            "--sessions-out",
            "/w/target/bench-server.1.0/n500/sessions.json",
            "it's",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            command_text(
                &argv,
                Path::new("/w/target/bench-server.1.0"),
                Path::new("/w")
            ),
            "target/release/callrec-loadgen --server 127.0.0.1:PORT --sessions-out \
             $TMP/n500/sessions.json 'it'\"'\"'s'"
        );
    }

    fn level(n: u32, packets: u64) -> Level {
        let mut lv = Level {
            n,
            passed: true,
            window_s: 10.0,
            packets,
            cpu_s: 1.64,
            idle_rss_kib: 2928,
            end_rss_kib: 2928 + 90_900 * u64::from(n) / 1000,
            loadgen_cpu_pct: 23.0,
            socket_drops: 0,
            peak_rx_queue: 19968,
            started: serde_json::json!({"start_rate_per_s": 323.4, "start_latency_ms": {"p99": 140.72}}),
            summary: serde_json::json!({"pacing": {"end_late_ms": {"p99": 9.05, "max": 25.37},
                                                   "seconds_over_20ms_late": [[0, 25.4]]}}),
            ..Level::default()
        };
        lv.snmp.insert("RcvbufErrors".into(), 0);
        lv.threads_pct.insert("media-0/11".into(), 8.2);
        lv.threads_pct.insert("media-1/12".into(), 7.9);
        lv.threads_pct.insert("callrec-server/10".into(), 0.1);
        lv.samples.peak_thread_pct.insert("media-0/11".into(), 17.0);
        lv
    }

    #[test]
    fn a_level_row_has_every_column() {
        let lv = level(1000, 499_990);
        assert_eq!(
            table(&["a"; 12], &[level_row(&lv)]).lines().nth(2).unwrap(),
            "| 1000 | held | 49,999 (100%) | 16.4 | 0.0164% | 3.28 | 90.9 KiB | \
             media-0 8% (17%), media-1 8% (0%) | 0 / 0 / 19968 B | 9.05 / 25.37 ms | 23% | \
             323/s, p99 140.7 ms |"
        );
        assert!(describe_waits(&lv).contains("over 20 ms late: 0s:25.4ms;"));
        assert!(describe_waits(&lv).starts_with("server threads in D state: never; peak ?;"));
    }

    #[test]
    fn the_verdict_and_the_note_above_say_why_a_level_did_not_count() {
        let held = level(1000, 499_990);
        let slow = level(2000, 900_000);
        assert_eq!(
            slow.verdict(),
            "held, but sender-limited (90% of the nominal packet rate)"
        );
        let mut failed = level(3000, 1_500_000);
        failed.passed = false;
        failed.problems.add("lost > 0", 3);
        failed.problems.add("received != sent", 5);
        assert_eq!(failed.verdict(), "FAILED: received != sent ×5; lost > 0 ×3");
        assert_eq!(
            above_note(&[held, failed]),
            " (3000 failed: lost > 0; received != sent)"
        );
        assert_eq!(
            above_note(&[level(1000, 499_990), slow]),
            " (2000 held too, but the loadgen delivered only 90% of its packet rate: the 2 \
             CPUs were saturated)"
        );
    }
}
