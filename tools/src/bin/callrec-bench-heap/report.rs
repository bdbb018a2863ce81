//! The report: the heap of every alloc-count build at each point (and against the host's),
//! the host release build's RSS, notes worked out from the figures, the commands, the call
//! script and the host.

use crate::measure::{Measured, Point};
use crate::script::call_script;
use crate::Options;
use callrec_tools::markdown::{command_line, g, host, shell_word, table};
use std::process::{Command, Stdio};

/// tokio's I/O driver keeps a buffer of 1,024 `epoll_event`s (`max_io_events_per_tick`); the
/// struct is packed to 12 bytes on x86_64 and 16 bytes on aarch64 and on armv7 (a u64 aligned
/// to 8), so every ARM build holds 4 KiB more there than the host.
pub const EPOLL_EXTRA: i64 = 1024 * (16 - 12);

/// The integer part of a figure with a comma every three digits ("362,213").
fn grouped(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` with thousands separators; `+` in front of a positive one (and 0) when `signed`.
pub fn thousands(n: i64, signed: bool) -> String {
    let sign = if n < 0 {
        "-"
    } else if signed {
        "+"
    } else {
        ""
    };
    format!("{sign}{}", grouped(&n.unsigned_abs().to_string()))
}

/// A byte count as `353.7 KiB (362,213 B)`, or a dash.
pub fn kib(n: Option<i64>) -> String {
    let Some(n) = n else { return "—".into() };
    let text = format!("{:.1}", n.unsigned_abs() as f64 / 1024.0);
    let (whole, tenth) = text.split_once('.').unwrap_or((&text, "0"));
    let sign = if n < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{tenth} KiB ({} B)",
        grouped(whole),
        thousands(n, false)
    )
}

/// A share as a signed percentage with one decimal ("+1.1%").
pub fn percent(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn heap(m: &Measured, point: Point, key: &str) -> Option<i64> {
    m.heap(point, key).map(|n| n as i64)
}

pub fn markdown(opts: &Options, measured: &[Measured]) -> String {
    let heaps: Vec<&Measured> = measured.iter().filter(|m| m.variant.heap).collect();
    let host_rss = measured.iter().find(|m| !m.variant.heap);
    let base = heaps[0];
    let mut out = vec![
        "# bench-heap: the agent's heap while recording, host and ARM".to_string(),
        String::new(),
        format!(
            "One {} s call of 20 ms PCMA (a 440 Hz tone) from `callrec-sim` into each agent at \
             the same time: answered at 0.5 s, the record key at 1 s, pause and resume, the \
             record key again 1 s before the hang-up. Heap: `alloc-count` builds (the `phone` \
             profile, no default features, static on ARM), bytes the program asked for \
             (`Layout::size`), from `callrec ctl status --json`.",
            g(opts.seconds)
        ),
        String::new(),
    ];
    let mut header = vec!["heap"];
    header.extend(heaps.iter().map(|m| m.variant.name.as_str()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for point in Point::ALL {
        for (key, what) in [("heap_now_bytes", "now"), ("heap_peak_bytes", "peak")] {
            let mut row = vec![format!("{what}, {}", point.text(opts.seconds))];
            for m in &heaps {
                let n = heap(m, point, key);
                let mut cell = kib(n);
                let host = heap(base, point, key).filter(|&h| h != 0);
                if let (false, Some(n), Some(host)) = (std::ptr::eq(*m, base), n, host) {
                    cell += &format!(", {:.2} × host", n as f64 / host as f64);
                }
                row.push(cell);
            }
            rows.push(row);
        }
    }
    let mut held = vec!["↳ held by the recording (now while recording − now idle)".to_string()];
    held.extend(heaps.iter().map(|m| {
        let rec = heap(m, Point::Recording, "heap_now_bytes");
        let idle = heap(m, Point::Idle, "heap_now_bytes");
        kib(rec.zip(idle).map(|(r, i)| r - i))
    }));
    rows.push(held);
    let mut allocs = vec!["packet-path allocations while recording".to_string()];
    allocs.extend(heaps.iter().map(|m| {
        heap(m, Point::Recording, "packet_path_allocations").map_or("—".into(), |n| n.to_string())
    }));
    rows.push(allocs);
    out.push(table(&header, &rows));

    if let Some(rss) = host_rss.filter(|m| !m.rss_kib.is_empty()) {
        let text = |k: Option<u64>| {
            k.map_or("—".into(), |k| {
                format!("{:.2} MiB ({k} KiB)", k as f64 / 1024.0)
            })
        };
        let rows: Vec<Vec<String>> = Point::ALL
            .iter()
            .map(|&point| {
                let values = rss.rss_kib.get(&point);
                vec![
                    point.text(opts.seconds),
                    text(values.map(|v| v.0)),
                    text(values.map(|v| v.1)),
                ]
            })
            .collect();
        out.push(table(
            &[
                "peak RSS, host release build without alloc-count",
                "VmHWM",
                "VmRSS",
            ],
            &rows,
        ));
    }
    out.extend(notes(&heaps));
    out.extend(
        [
            "",
            "Commands ($TMP: a temporary directory, removed afterwards):",
            "",
            "```",
        ]
        .map(String::from),
    );
    out.extend(opts.commands.iter().cloned());
    let cmd = |argv: &[String]| command_line(argv, &opts.workdir);
    for m in measured.iter().filter(|m| !m.argv.is_empty()) {
        out.push(cmd(&m.argv));
    }
    if let Some(first) = measured.first().filter(|m| !m.sim_argv.is_empty()) {
        out.push(cmd(&first.sim_argv) + "   # one per agent, to its tap");
    }
    out.push(format!(
        "{} ctl --control-socket $TMP/<agent>/ctl.sock status --json",
        shell_word(&opts.ctl.display().to_string())
    ));
    out.extend(["```", "", "The call script:", "", "```"].map(String::from));
    out.push(call_script(opts.seconds).trim_end().to_string());
    out.extend(["```", ""].map(String::from));
    out.push(format!("Host: {}; {}.", host(), qemu_version()));
    out.join("\n") + "\n"
}

/// What the figures say, worked out from them: each ARM build against the host, and why.
pub fn notes(heaps: &[&Measured]) -> Vec<String> {
    let mut out = Vec::new();
    let host = heaps[0];
    for m in &heaps[1..] {
        // Idle after start-up: the same work on every target, no command in flight.
        let a = heap(host, Point::Idle, "heap_now_bytes");
        let b = heap(m, Point::Idle, "heap_now_bytes");
        let pa = heap(host, Point::Recording, "heap_peak_bytes");
        let pb = heap(m, Point::Recording, "heap_peak_bytes");
        let (Some(a), Some(b), Some(pa), Some(pb)) = (a, b, pa, pb) else {
            continue;
        };
        if a == 0 || b == 0 || pa == 0 || pb == 0 {
            continue;
        }
        let rest = b - a - EPOLL_EXTRA;
        let words = if m.variant.name.contains("armv7") {
            "32-bit words and pointers"
        } else {
            "everything else"
        };
        out.push(format!(
            "- {}: {} B ({}) against the host idle: {} B for tokio's epoll event buffer \
             (1,024 × `struct epoll_event`, 16 B here, 12 B packed on x86_64), {} B {words}. \
             Peak while recording: {} B ({}).",
            m.variant.name,
            thousands(b - a, true),
            percent((b - a) as f64 / a as f64),
            thousands(EPOLL_EXTRA, true),
            thousands(rest, true),
            thousands(pb - pa, true),
            percent((pb - pa) as f64 / pa as f64),
        ));
    }
    out.extend(
        [
            "- armv7 is 32-bit: pointers, `usize`, and the headers of `Vec`, `String` and `Box` \
             are half the size of x86_64's (4 bytes, not 8), so the same structures take less; \
             the fixed buffers sized in bytes (the audio ring, receive slots, reorder storage) \
             do not change. aarch64 is 64-bit like the host: only the epoll buffer differs.",
            "- The peak is the highest since the process started, and the recording's buffers \
             are all allocated at start-up, so the peak hardly moves with the call: what a \
             recording itself holds while it runs is the line ↳, and the rest of the peak's \
             rise while recording is transient (the call's commands, the file's opening, \
             status answers: freed again, as the figure after the stop shows). That transient \
             depends on how the commands happen to overlap, so the peaks vary by a few KiB \
             from run to run; the figures for \"now\" do not.",
            "- RSS under qemu-user is the emulator's, so only the host's is given; on a phone \
             the RSS is the static binary's touched pages, this heap, malloc's overhead and \
             the threads' stacks.",
        ]
        .map(String::from),
    );
    out
}

/// The first line of `qemu-arm --version`.
fn qemu_version() -> String {
    Command::new("qemu-arm")
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "qemu-arm version unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Variant;
    use serde_json::json;

    #[test]
    fn figures_have_thousands_separators_and_signs() {
        assert_eq!(kib(Some(362_213)), "353.7 KiB (362,213 B)");
        assert_eq!(kib(Some(239)), "0.2 KiB (239 B)");
        assert_eq!(kib(Some(2_000_000)), "1,953.1 KiB (2,000,000 B)");
        assert_eq!(kib(Some(-5)), "-0.0 KiB (-5 B)");
        assert_eq!(kib(None), "—");
        assert_eq!(thousands(-31_160, true), "-31,160");
        assert_eq!(thousands(4096, true), "+4,096");
        assert_eq!(thousands(0, true), "+0");
        assert_eq!(thousands(999, false), "999");
        assert_eq!(percent(-31_160.0 / 362_213.0), "-8.6%");
        assert_eq!(percent(4088.0 / 362_213.0), "+1.1%");
    }

    fn measured(name: &str, idle: u64, peak: u64) -> Measured {
        let mut m = Measured::new(Variant::parse_heap(&format!("{name}=/b")).unwrap());
        for point in Point::ALL {
            let counters = json!({"heap_now_bytes": idle, "heap_peak_bytes": peak,
                "packet_path_allocations": 0});
            m.status.insert(point, json!({ "counters": counters }));
        }
        m
    }

    #[test]
    fn the_notes_split_an_arm_build_s_difference_into_the_epoll_buffer_and_the_rest() {
        let host = measured("x86_64 host", 362_213, 363_490);
        let arm = measured("armv7 (qemu-arm)", 331_053, 332_062);
        let a64 = measured("aarch64 (qemu-aarch64)", 366_301, 368_608);
        let notes = notes(&[&host, &arm, &a64]);
        assert_eq!(notes.len(), 5);
        assert!(notes[0].starts_with(
            "- armv7 (qemu-arm): -31,160 B (-8.6%) against the host idle: +4,096 B for tokio's"
        ));
        assert!(
            notes[0].contains(
                "-35,256 B 32-bit words and pointers. Peak while recording: \
            -31,428 B (-8.6%)."
            ),
            "{}",
            notes[0]
        );
        assert!(notes[1].contains("+4,088 B (+1.1%)"), "{}", notes[1]);
        assert!(notes[1].contains("-8 B everything else. Peak while recording: +5,118 B (+1.4%)."));
    }
}
