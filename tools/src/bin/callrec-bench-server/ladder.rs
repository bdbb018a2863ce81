//! The ladder: levels in BENCH_COUNTS's order up to the first that does not count (failed, or
//! the loadgen could not keep up), then a few bisection steps (BENCH_REFINE) between the last
//! that counted and the lowest that did not, on multiples of 100. A level is left out if the
//! server would need more open files than allowed, more RTP ports than its range, or more
//! time than is left of BENCH_BUDGET (the ffmpeg run's share kept back).

use crate::level::{self, Level, SERVER_PORTS};
use crate::report::{above_note, describe_waits, g};
use crate::Options;
use callrec_tools::ToolError;
use std::path::Path;
use std::time::Instant;

/// What bounds a level: the open files, the ports, the time.
#[derive(Debug, Clone)]
pub struct Limits {
    pub nofile: u64,
    pub rate: f64,
    pub seconds: f64,
    pub budget_s: f64,
    /// What the ffmpeg run needs of the budget.
    pub ffmpeg_s: f64,
}

impl Limits {
    /// Why level `n` cannot run `elapsed_s` seconds into the run, or `None`.
    pub fn why_not(&self, n: u32, elapsed_s: f64) -> Option<String> {
        // The server needs a socket, a control connection and a file per session.
        let files = 3 * u64::from(n) + 200;
        if files > self.nofile {
            return Some(format!(
                "the server would need about {} open files, over the limit of {} (ulimit -Hn)",
                crate::report::thousands(files as f64),
                crate::report::thousands(self.nofile as f64)
            ));
        }
        if n > u32::from(SERVER_PORTS.1 - SERVER_PORTS.0) + 1 {
            return Some(format!(
                "over the RTP port range {}-{}",
                SERVER_PORTS.0, SERVER_PORTS.1
            ));
        }
        let cost = f64::from(n) / self.rate + self.seconds + 15.0 + f64::from(n) / 400.0;
        if elapsed_s + cost + self.ffmpeg_s > self.budget_s {
            return Some(format!("over the time budget ({} s)", g(self.budget_s)));
        }
        None
    }
}

/// The next level to bisect at, between the largest clean level below the lowest failure and
/// that failure, on a multiple of 100; `None` if there is no room.
pub fn bisect(clean: &[u32], failed: &[u32]) -> Option<u32> {
    let top = *failed.iter().min()?;
    let low = clean
        .iter()
        .copied()
        .filter(|&n| n < top)
        .max()
        .unwrap_or(0);
    let n = (low + top) / 2 / 100 * 100;
    (n > low && n < top).then_some(n)
}

/// The levels run, in order of N, and what the report says of those above them.
pub struct Ladder {
    pub levels: Vec<Level>,
    pub untried: Vec<u32>,
    pub top_note: String,
}

fn one(o: &Options, n: u32, workdir: &Path) -> Result<Level, ToolError> {
    println!("== {n} sessions, {} s", g(o.seconds));
    let lv = level::run(o, n, workdir)?;
    println!(
        "   {} ({} files checked, {:.2} GiB)\n   {}",
        lv.verdict(),
        lv.files_checked,
        lv.storage_bytes as f64 / f64::from(1u32 << 30),
        describe_waits(&lv)
    );
    Ok(lv)
}

pub fn run(
    o: &Options,
    limits: &Limits,
    workdir: &Path,
    began: Instant,
) -> Result<Ladder, ToolError> {
    let counts = &o.counts;
    let why_not = |n: u32| limits.why_not(n, began.elapsed().as_secs_f64());
    let mut levels: Vec<Level> = Vec::new();
    let mut untried = Vec::new();
    for (i, &n) in counts.iter().enumerate() {
        if let Some(why) = why_not(n) {
            println!("== {n} sessions: {why}; not tried");
            untried = counts[i..].to_vec();
            break;
        }
        let lv = one(o, n, workdir)?;
        let clean = lv.clean();
        levels.push(lv);
        if !clean {
            untried = counts[i + 1..].to_vec();
            break;
        }
    }
    let mut failed: Vec<u32> = levels.iter().filter(|l| !l.clean()).map(|l| l.n).collect();
    let mut top_note = String::new();
    if let (Some(last), true) = (levels.last(), failed.is_empty()) {
        let step = match counts[..] {
            [.., a, b] => b - a,
            [.., b] => b,
            [] => 0,
        };
        let next = last.n + step;
        let why = untried
            .first()
            .and_then(|&u| why_not(u))
            .or_else(|| why_not(next))
            .unwrap_or_else(|| "not in BENCH_COUNTS".into());
        top_note = format!(
            " (no level failed; {} not tried: {why})",
            untried.first().copied().unwrap_or(next)
        );
    }
    if !failed.is_empty() {
        for _ in 0..o.refine {
            let clean: Vec<u32> = levels.iter().filter(|l| l.clean()).map(|l| l.n).collect();
            let Some(n) = bisect(&clean, &failed) else {
                break;
            };
            if why_not(n).is_some() {
                break;
            }
            let lv = one(o, n, workdir)?;
            if !lv.clean() {
                failed.push(n);
            }
            levels.push(lv);
        }
    }
    levels.sort_by_key(|l| l.n);
    if !failed.is_empty() {
        top_note = above_note(&levels);
    }
    Ok(Ladder {
        levels,
        untried,
        top_note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            nofile: 20_000,
            rate: 400.0,
            seconds: 60.0,
            budget_s: 840.0,
            ffmpeg_s: 80.0,
        }
    }

    #[test]
    fn a_level_needs_files_ports_and_time() {
        let l = limits();
        assert_eq!(l.why_not(1000, 0.0), None);
        assert_eq!(
            l.why_not(7000, 0.0).unwrap(),
            "the server would need about 21,200 open files, over the limit of 20,000 (ulimit -Hn)"
        );
        let many = Limits {
            nofile: 1 << 20,
            ..limits()
        };
        assert_eq!(many.why_not(8000, 0.0), None);
        assert_eq!(
            many.why_not(8001, 0.0).unwrap(),
            "over the RTP port range 10000-17999"
        );
        // 1000 sessions: 2.5 + 60 + 15 + 2.5 = 80 s, and 80 s for ffmpeg.
        assert_eq!(l.why_not(1000, 680.0), None);
        assert_eq!(
            l.why_not(1000, 681.0).unwrap(),
            "over the time budget (840 s)"
        );
    }

    #[test]
    fn bisection_halves_the_gap_on_hundreds() {
        assert_eq!(bisect(&[1000, 2000, 3000, 4000, 5000], &[6000]), Some(5500));
        assert_eq!(bisect(&[5000, 5500], &[6000]), Some(5700));
        assert_eq!(bisect(&[5000], &[5500, 6000]), Some(5200));
        assert_eq!(bisect(&[5000, 5700], &[6000, 5800]), None);
        assert_eq!(bisect(&[], &[1000]), Some(500));
        assert_eq!(bisect(&[100], &[]), None);
    }
}
