//! The report's rows: each metric for callrec and ffmpeg, their ratio, the target and whether
//! callrec met it, worked out from the samples of the main run and the allocation runs.

use crate::alloc_run::AllocRun;
use crate::main_run::{diff, MainRun, WARMUP_S};
use crate::stream::{FRAME_BYTES, PERIOD_S};
use callrec_tools::markdown::g;

/// Peak RSS (VmHWM) of the agent: at most 4 MiB.
pub const RSS_TARGET_KIB: u64 = 4 * 1024;
/// The agent's CPU time against ffmpeg's: at most a fifth.
pub const CPU_RATIO_TARGET: f64 = 0.2;
/// Write calls per second in the steady state: at most 2.
pub const WRITES_PER_S_TARGET: f64 = 2.0;
/// Bytes written per audio byte over the whole recording: at most 1.01.
pub const BYTES_PER_AUDIO_BYTE_TARGET: f64 = 1.01;

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// A figure with no target.
    Info,
}

impl Verdict {
    pub fn of(ok: bool) -> Verdict {
        if ok {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "**FAIL**",
            Verdict::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    pub callrec: String,
    pub ffmpeg: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

impl Row {
    fn new(
        metric: impl Into<String>,
        callrec: impl Into<String>,
        ffmpeg: impl Into<String>,
        ratio: impl Into<String>,
        target: &str,
        verdict: Verdict,
    ) -> Row {
        Row {
            metric: metric.into(),
            callrec: callrec.into(),
            ffmpeg: ffmpeg.into(),
            ratio: ratio.into(),
            target: target.to_string(),
            verdict,
        }
    }

    /// The cells of the report's table.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.metric.clone(),
            self.callrec.clone(),
            self.ffmpeg.clone(),
            self.ratio.clone(),
            self.target.clone(),
            self.verdict.text().to_string(),
        ]
    }
}

/// `a / b` to three decimals, or a dash when `b` is 0.
fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "—".into()
    } else {
        format!("{:.3}", a / b)
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("not read".into(), |k| {
        format!("{:.2} MiB ({k} KiB)", k as f64 / 1024.0)
    })
}

/// The rows of the report, in its order.
pub fn rows_for(run: &MainRun, allocs: &[AllocRun]) -> Vec<Row> {
    let (a0, aw, a1, a2) = (run.s0.callrec, run.sw.callrec, run.s1.callrec, run.s2);
    let (f0, fw, f1) = (run.s0.ffmpeg, run.sw.ffmpeg, run.s1.ffmpeg);
    let final_io = |key: &str| run.ffmpeg_final_io.get(key).copied().unwrap_or(0);
    let packets = run.packets as f64;
    let audio = run.audio_bytes as f64;
    let stream_s = packets * PERIOD_S;
    let mut rows = Vec::new();

    let (rss_a, rss_f) = (a2.peak_rss_kib, f1.peak_rss_kib);
    let as_f = |k: Option<u64>| k.unwrap_or(0) as f64;
    rows.push(Row::new(
        "peak RSS (VmHWM)",
        mib(rss_a),
        mib(rss_f),
        ratio(as_f(rss_a), as_f(rss_f)),
        "callrec ≤ 4 MiB",
        Verdict::of(rss_a.is_some_and(|k| k <= RSS_TARGET_KIB)),
    ));

    let (cpu_a, cpu_f) = (a2.cpu_s, f1.cpu_s);
    rows.push(Row::new(
        "CPU time (user+sys), process start to end of recording",
        format!("{cpu_a:.2} s"),
        format!("{cpu_f:.2} s"),
        ratio(cpu_a, cpu_f),
        "ratio ≤ 0.2",
        Verdict::of(cpu_f > 0.0 && cpu_a / cpu_f <= CPU_RATIO_TARGET),
    ));
    let win_a = diff(a2.oncpu_ns, a0.oncpu_ns) as f64 / 1e9;
    let win_f = diff(f1.oncpu_ns, f0.oncpu_ns) as f64 / 1e9;
    let per_packet = |s: f64| format!("{s:.3} s, {:.0} µs/packet", s / packets * 1e6);
    rows.push(Row::new(
        "↳ during the stream only (schedstat on-CPU time)",
        per_packet(win_a),
        per_packet(win_f),
        ratio(win_a, win_f),
        "—",
        Verdict::Info,
    ));

    // Steady state: stream time WARMUP_S to the end (see the tool's doc on the commit phase).
    let span = stream_s - WARMUP_S;
    let per_s = |a: u64, b: u64| diff(a, b) as f64 / span;
    let (wps_a, wps_f) = (per_s(a1.syscw, aw.syscw), per_s(f1.syscw, fw.syscw));
    let wake_a = per_s(a1.eventfd_writes, aw.eventfd_writes);
    let wake_f = per_s(f1.eventfd_writes, fw.eventfd_writes);
    let stretch = format!("stream {}–{} s", g(WARMUP_S), g(stream_s));
    rows.push(Row::new(
        format!("write calls per second, steady state (syscw, {stretch})"),
        format!("{wps_a:.3}"),
        format!("{wps_f:.3}"),
        ratio(wps_a, wps_f),
        "callrec ≤ 2",
        Verdict::of(wps_a <= WRITES_PER_S_TARGET),
    ));
    rows.push(Row::new(
        "↳ of which eventfd wake-ups (async runtime, 8 B each)",
        format!("{wake_a:.3}"),
        format!("{wake_f:.3}"),
        "—",
        "—",
        Verdict::Info,
    ));
    rows.push(Row::new(
        "↳ all other write calls (the recording file)",
        format!("{:.3}", wps_a - wake_a),
        format!("{:.3}", wps_f - wake_f),
        ratio(wps_a - wake_a, wps_f - wake_f),
        "—",
        Verdict::Info,
    ));

    // The whole recording: the agent from S0 to after `ctl stop`, ffmpeg to its exit.
    let stop_reply = if run.reply_bytes != 0 {
        run.stop_reply.len() as i64
    } else {
        0
    };
    let bytes_a = diff(a2.wchar, a0.wchar) - stop_reply;
    let bytes_f = diff(final_io("wchar"), f0.wchar);
    let wakes_a = diff(a2.eventfd_writes, a0.eventfd_writes);
    let (bpa_a, bpa_f) = (bytes_a as f64 / audio, bytes_f as f64 / audio);
    rows.push(Row::new(
        format!(
            "bytes written per audio byte, whole recording (wchar / {} B)",
            run.audio_bytes
        ),
        format!("{bpa_a:.5} ({bytes_a} B)"),
        format!("{bpa_f:.5} ({bytes_f} B)"),
        ratio(bpa_a, bpa_f),
        "callrec ≤ 1.01",
        Verdict::of(bpa_a <= BYTES_PER_AUDIO_BYTE_TARGET),
    ));
    let without = bytes_a - 8 * wakes_a;
    rows.push(Row::new(
        "↳ without the eventfd wake-ups",
        format!("{:.5} ({without} B)", without as f64 / audio),
        "—",
        "—",
        "—",
        Verdict::Info,
    ));
    let audio_span = span * FRAME_BYTES as f64 / PERIOD_S;
    let ss_a = diff(a1.wchar, aw.wchar) as f64 / audio_span;
    let ss_f = diff(f1.wchar, fw.wchar) as f64 / audio_span;
    rows.push(Row::new(
        format!("↳ steady state (wchar, {stretch}, {audio_span:.0} audio B)"),
        format!("{ss_a:.5}"),
        format!("{ss_f:.5}"),
        ratio(ss_a, ss_f),
        "—",
        Verdict::Info,
    ));
    let writes_a = diff(a2.syscw, a0.syscw) - run.reply_writes;
    let writes_f = diff(final_io("syscw"), f0.syscw);
    rows.push(Row::new(
        "write calls, whole recording",
        format!("{writes_a} ({wakes_a} eventfd)"),
        writes_f.to_string(),
        ratio(writes_a as f64, writes_f as f64),
        "—",
        Verdict::Info,
    ));

    let counted: Option<Vec<u64>> = allocs.iter().map(|a| a.allocations).collect();
    match counted {
        Some(counts) if !counts.is_empty() => {
            let text = allocs
                .iter()
                .zip(&counts)
                .map(|(a, n)| format!("{n} after {} packets", a.received))
                .collect::<Vec<_>>()
                .join("; ");
            let growth = counts[counts.len() - 1] as i64 - counts[0] as i64;
            rows.push(Row::new(
                "packet-path heap allocations (alloc-count build, own runs)",
                text,
                "n/a",
                "—",
                "0, or the same at every length",
                Verdict::of(growth <= 0),
            ));
        }
        _ => rows.push(Row::new(
            "packet-path heap allocations",
            "not reported",
            "n/a",
            "—",
            "0 per packet",
            Verdict::Fail,
        )),
    }

    let same_a = run.agent_data == run.sent && run.agent_files == 1 && run.agent_stale == 0;
    let same_f = run.ffmpeg_data == run.sent;
    let stale = if run.agent_stale > 0 {
        format!(", {} stale header", run.agent_stale)
    } else {
        String::new()
    };
    let yes = |same: bool| if same { "yes" } else { "no" };
    rows.push(Row::new(
        "recording = the payload bytes sent, byte for byte",
        format!(
            "{} ({} B, {} file{stale})",
            yes(same_a),
            run.agent_data.len(),
            run.agent_files
        ),
        format!("{} ({} B)", yes(same_f), run.ffmpeg_data.len()),
        "—",
        "both yes",
        Verdict::of(same_a && same_f),
    ));
    let counter = |key: &str| run.counters[key].as_u64();
    let (received, lost, late) = (counter("received"), counter("lost"), counter("late"));
    let shown = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    rows.push(Row::new(
        "packets received / lost / late (agent counters)",
        format!("{} / {} / {}", shown(received), shown(lost), shown(late)),
        "—",
        "—",
        &format!("{} / 0 / 0", run.packets),
        Verdict::of(received == Some(run.packets as u64) && lost == Some(0) && late == Some(0)),
    ));
    rows
}

/// The metrics whose target was missed.
pub fn missed(rows: &[Row]) -> Vec<&str> {
    rows.iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .map(|r| r.metric.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::main_run::Both;
    use crate::pacer::Pacing;
    use callrec_tools::procfs::Sample;
    use std::time::Instant;

    fn sample(cpu_s: f64, rss: u64, oncpu_ns: u64, syscw: u64, wchar: u64, wakes: u64) -> Sample {
        Sample {
            t: Instant::now(),
            cpu_s,
            peak_rss_kib: Some(rss),
            oncpu_ns,
            syscw,
            wchar,
            eventfd_writes: wakes,
        }
    }

    /// 10 s of stream (500 packets): the agent writes twice a second, the audio and 76 B of
    /// header; ffmpeg writes once, at its exit.
    fn run() -> MainRun {
        let sent = vec![5u8; 500 * FRAME_BYTES];
        let both = |callrec, ffmpeg| Both { callrec, ffmpeg };
        MainRun {
            packets: 500,
            audio_bytes: sent.len(),
            s0: both(
                sample(0.01, 3000, 1_000_000, 10, 1_000, 0),
                sample(0.05, 50_000, 20_000_000, 0, 0, 0),
            ),
            sw: both(
                sample(0.01, 3000, 1_500_000, 12, 9_076, 0),
                sample(0.06, 50_000, 25_000_000, 0, 0, 0),
            ),
            s1: both(
                sample(0.01, 3100, 8_000_000, 30, 81_760, 1),
                sample(0.09, 51_000, 58_000_000, 0, 0, 0),
            ),
            s2: sample(0.01, 3200, 8_500_000, 35, 81_700, 1),
            ffmpeg_final_io: [("wchar".to_string(), 80_000), ("syscw".to_string(), 1)].into(),
            reply_writes: 0,
            reply_bytes: 0,
            stop_reply: vec![b'x'; 300],
            counters: serde_json::json!({"received": 500, "lost": 0, "late": 0}),
            agent_data: sent.clone(),
            agent_files: 1,
            agent_stale: 0,
            ffmpeg_data: sent.clone(),
            sent,
            pacing: Pacing::default(),
            agent_argv: vec![],
            ffmpeg_argv: vec![],
        }
    }

    fn allocs(counts: [Option<u64>; 2]) -> Vec<AllocRun> {
        counts
            .iter()
            .zip([(5.0, 250), (10.0, 500)])
            .map(|(n, (seconds, packets))| AllocRun {
                seconds,
                packets,
                received: packets as u64,
                allocations: *n,
            })
            .collect()
    }

    fn row<'a>(rows: &'a [Row], start: &str) -> &'a Row {
        rows.iter().find(|r| r.metric.starts_with(start)).unwrap()
    }

    #[test]
    fn a_run_within_the_targets_passes_every_row_and_shows_its_figures() {
        let rows = rows_for(&run(), &allocs([Some(0), Some(0)]));
        assert_eq!(rows.len(), 13);
        assert!(missed(&rows).is_empty(), "{rows:#?}");
        let rss = row(&rows, "peak RSS");
        assert_eq!(rss.callrec, "3.12 MiB (3200 KiB)");
        assert_eq!(rss.ratio, "0.063");
        assert_eq!(row(&rows, "CPU time").ratio, "0.111");
        let writes = row(&rows, "write calls per second");
        assert_eq!(
            writes.metric,
            "write calls per second, steady state (syscw, stream 1–10 s)"
        );
        assert_eq!(
            (writes.callrec.as_str(), writes.ratio.as_str()),
            ("2.000", "—")
        );
        let bytes = row(&rows, "bytes written per audio byte");
        assert_eq!(bytes.callrec, "1.00875 (80700 B)");
        assert_eq!(bytes.ffmpeg, "1.00000 (80000 B)");
        assert_eq!(row(&rows, "↳ without").callrec, "1.00865 (80692 B)");
        assert_eq!(
            row(&rows, "↳ steady state").metric,
            "↳ steady state (wchar, stream 1–10 s, 72000 audio B)"
        );
        assert_eq!(row(&rows, "write calls, whole").callrec, "25 (1 eventfd)");
        assert_eq!(
            row(&rows, "packet-path").callrec,
            "0 after 250 packets; 0 after 500 packets"
        );
        assert_eq!(row(&rows, "recording =").callrec, "yes (80000 B, 1 file)");
        assert_eq!(row(&rows, "packets received").callrec, "500 / 0 / 0");
    }

    #[test]
    fn a_missed_target_fails_its_row_only() {
        let mut r = run();
        r.s2.cpu_s = 0.03;
        r.counters["lost"] = 1.into();
        r.agent_stale = 1;
        let rows = rows_for(&r, &allocs([Some(0), Some(2)]));
        assert_eq!(
            missed(&rows),
            vec![
                "CPU time (user+sys), process start to end of recording",
                "packet-path heap allocations (alloc-count build, own runs)",
                "recording = the payload bytes sent, byte for byte",
                "packets received / lost / late (agent counters)",
            ]
        );
        assert_eq!(
            row(&rows, "recording =").callrec,
            "no (80000 B, 1 file, 1 stale header)"
        );
        let rows = rows_for(&run(), &allocs([Some(0), None]));
        assert_eq!(row(&rows, "packet-path").callrec, "not reported");
        assert_eq!(missed(&rows), vec!["packet-path heap allocations"]);
    }

    #[test]
    fn a_control_reply_written_with_write_is_taken_out_of_the_agent_figures() {
        let mut r = run();
        r.reply_writes = 1;
        r.reply_bytes = 300;
        r.s2.wchar += 300;
        r.s2.syscw += 1;
        let rows = rows_for(&r, &allocs([Some(0), Some(0)]));
        assert_eq!(
            row(&rows, "bytes written per audio byte").callrec,
            "1.00875 (80700 B)"
        );
        assert_eq!(row(&rows, "write calls, whole").callrec, "25 (1 eventfd)");
    }
}
