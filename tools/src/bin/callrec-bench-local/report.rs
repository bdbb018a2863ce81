//! The report: the rows as a Markdown table, what the figures rest on (clock ticks, the
//! sender's lateness, how control replies count), the commands, the host, the allocation runs.

use crate::alloc_run::AllocRun;
use crate::main_run::MainRun;
use crate::rows::Row;
use crate::stream::{loadgen_argv, PERIOD_S};
use crate::{ffmpeg, Options};
use callrec_tools::markdown::{command_line, g, host, table};
use callrec_tools::procfs::clock_ticks;
use std::path::Path;

/// Where the tool's method is written down (the report points there).
const METHOD: &str = "tools/src/bin/callrec-bench-local/main.rs";

pub fn markdown(rows: &[Row], run: &MainRun, allocs: &[AllocRun], opts: &Options) -> String {
    let tmp = opts.workdir.as_path();
    let cmd = |argv: &[String]| command_line(argv, tmp);
    let socket = run
        .agent_argv
        .iter()
        .position(|a| a == "--control-socket")
        .and_then(|i| run.agent_argv.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let reply_note = if run.reply_bytes == 0 {
        "control replies are sent with send(), which /proc/PID/io does not count".to_string()
    } else {
        format!(
            "a control reply is one write of its length; `ctl stop`'s {} B are subtracted",
            run.stop_reply.len()
        )
    };
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    let mut out = vec![
        "# bench-local: callrec agent vs `ffmpeg -c copy`".to_string(),
        String::new(),
        format!(
            "One 20 ms G.711 A-law (PCMA, 8 kHz) RTP stream, {} packets ({} s, {} audio bytes), \
             sent by one paced sender to both recorders at the same time on 127.0.0.1.",
            run.packets,
            g(run.packets as f64 * PERIOD_S),
            run.audio_bytes
        ),
        String::new(),
        table(
            &[
                "metric",
                "callrec",
                "ffmpeg -c copy",
                "ratio",
                "target",
                "pass/fail",
            ],
            &cells,
        )
        .trim_end()
        .to_string(),
        String::new(),
        format!(
            "Ratio = callrec / ffmpeg. CPU time resolution 1/{} s. Sender lateness: max {:.2} ms, \
             {} deadline(s) over 5 ms. In the agent's counts, {reply_note}. Where and why each \
             figure is read: {METHOD}.",
            g(clock_ticks()),
            run.pacing.max_late_s * 1000.0,
            run.pacing.late_over_5ms
        ),
        String::new(),
        "Commands ($TMP: a temporary directory, removed afterwards):".to_string(),
        String::new(),
        "```".to_string(),
    ];
    out.extend(opts.commands.iter().cloned());
    let stream_dir = opts.workdir.join("stream");
    out.push(cmd(&loadgen_argv(
        &opts.loadgen,
        opts.stream_seconds(),
        &stream_dir,
    )));
    let mut agent = vec!["env".to_string(), "CALLREC_LOG=warn".to_string()];
    agent.extend(run.agent_argv.iter().cloned());
    out.push(cmd(&agent));
    out.push(cmd(&[
        opts.bin.display().to_string(),
        "ctl".into(),
        "--control-socket".into(),
        socket,
        "start|stop|status".into(),
        "--json".into(),
    ]));
    out.push(cmd(&run.ffmpeg_argv));
    out.push("```".to_string());
    out.push(String::new());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    out.push(format!(
        "Host: {}; {}; $TMP on {}.",
        host(),
        ffmpeg::version(),
        fs_type(&mounts, tmp)
    ));
    if !allocs.is_empty() {
        let runs = allocs
            .iter()
            .map(|a| {
                format!(
                    "{} s, {} packets sent, {} received: {}",
                    g(a.seconds),
                    a.packets,
                    a.received,
                    a.allocations
                        .map_or("not reported".to_string(), |n| n.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push(String::new());
        out.push(format!(
            "Allocation runs (alloc-count build, the same stream, callrec alone): {runs}."
        ));
    }
    out.join("\n") + "\n"
}

/// The file system type of the longest mount point holding `path`, from the text of
/// `/proc/self/mounts`; `?` if none does.
pub fn fs_type(mounts: &str, path: &Path) -> String {
    let path = format!("{}/", path.display());
    let mut best: (usize, &str) = (0, "?");
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_), Some(mount), Some(kind)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let prefix = format!("{}/", mount.trim_end_matches('/'));
        if path.starts_with(&prefix) && mount.len() >= best.0 {
            best = (mount.len(), kind);
        }
    }
    best.1.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_system_is_the_one_of_the_longest_mount_point_holding_the_path() {
        let mounts = "/dev/sda1 / ext4 rw 0 0\n\
                      tmpfs /tmp tmpfs rw 0 0\n\
                      tmpfs /tmpx tmpfs rw 0 0\n\
                      /dev/sdb1 /tmp/big xfs rw 0 0\n";
        assert_eq!(fs_type(mounts, Path::new("/tmp/callrec-bench.1")), "tmpfs");
        assert_eq!(fs_type(mounts, Path::new("/tmp/big/x")), "xfs");
        assert_eq!(fs_type(mounts, Path::new("/work/x")), "ext4");
        assert_eq!(fs_type("", Path::new("/work/x")), "?");
    }
}
