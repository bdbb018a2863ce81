//! The runs: which call, in which mode and codec, with which impairments, and the
//! `callrec-sim run` script every run plays (why it holds the call around each key press: the
//! crate doc).

/// The seed of every run: both agents get the very same datagrams (SSRC, sequence numbers,
/// timestamps, loss, reorder).
pub const SEED: u32 = 7;

/// What the clean PCMA run records: 1.3-3.0 s and 5.0-8.0 s of the script (a 0.5 s hold inside
/// the second stretch is written as silence), one byte per 8 kHz tick.
pub const CLEAN_AUDIO_BYTES: u64 = (3000 - 1300 + 8000 - 5000) * 8;

/// Local mode (each agent's stick) or network mode (one record server for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Local,
    Network,
}

/// One run, played into both agents at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub name: &'static str,
    pub mode: Mode,
    pub codec: &'static str,
    /// More `callrec-sim run` options: loss and reorder.
    pub impair: &'static [&'static str],
}

/// Every run, in the order they are played.
pub const RUNS: [Run; 3] = [
    Run {
        name: "local",
        mode: Mode::Local,
        codec: "PCMA",
        impair: &[],
    },
    Run {
        name: "local-lossy",
        mode: Mode::Local,
        codec: "G722",
        impair: &["--loss", "0.05", "--reorder", "0.05"],
    },
    Run {
        name: "network",
        mode: Mode::Network,
        codec: "PCMA",
        impair: &[],
    },
];

/// The runs `--runs` names (comma-separated), in [`RUNS`]' order; an error naming the unknown
/// ones.
pub fn select(wanted: &str) -> Result<Vec<Run>, String> {
    let names: Vec<&str> = wanted.split(',').collect();
    let unknown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|w| !RUNS.iter().any(|r| r.name == *w))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = RUNS.iter().map(|r| r.name).collect();
        return Err(format!(
            "unknown run(s) {} (known: {})",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    Ok(RUNS
        .iter()
        .filter(|r| names.contains(&r.name))
        .copied()
        .collect())
}

/// Every run's name, comma-separated: `--runs`' default.
pub fn all_names() -> String {
    RUNS.iter().map(|r| r.name).collect::<Vec<_>>().join(",")
}

/// The call, as a `callrec-sim run` script. Every change of recording state happens while the
/// call is on hold, with 200 ms or more of silence on the wire on both sides.
pub fn call_script(codec: &str) -> String {
    format!(
        "\
0.000 call started id=c1 dir=in remote=1002 remote_name=\"ARM check\" codec={codec}
0.500 call answered id=c1   # 0.5-0.7 s of audio before any recording: not recorded
0.700 call held id=c1
1.000 start id=c1           # the held call: recording (pause_on_hold off), no audio yet
1.300 call resumed id=c1    # recorded from here
3.000 call held id=c1
3.200 key pause             # paused while nothing is sent
3.400 call resumed id=c1    # 3.4-4.6 s sent while paused: not recorded
4.600 call held id=c1
4.800 key pause             # recording again
5.000 call resumed id=c1    # recorded
6.000 call held id=c1       # on hold while recording: 0.5 s of RTP time without packets,
6.500 call resumed id=c1    #   written as silence
8.000 call held id=c1
8.200 key record            # stops the recording
8.400 call resumed id=c1    # not recorded
9.000 call ended id=c1
"
    )
}

/// Each agent of each network run has its own MAC: the server tells their sessions apart by
/// it. `arm` is false for the host agent.
pub fn mac(repeat: usize, arm: bool) -> String {
    format!("02:00:00:00:{repeat:02x}:{:02x}", if arm { 2 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_chosen_by_name_in_their_own_order() {
        let names = |r: Vec<Run>| r.iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(
            names(select("network,local").unwrap()),
            ["local", "network"]
        );
        assert_eq!(
            names(select(&all_names()).unwrap()),
            ["local", "local-lossy", "network"]
        );
        assert_eq!(
            select("local,lossy").unwrap_err(),
            "unknown run(s) lossy (known: local, local-lossy, network)"
        );
    }

    #[test]
    fn the_clean_run_records_the_scripts_recorded_stretches_and_macs_differ() {
        // 1.3-3.0 s and 5.0-8.0 s at 8 kHz, one byte a sample: what the clean run's file
        // holds after its 76-byte header (37,676 bytes in all).
        assert_eq!(CLEAN_AUDIO_BYTES, 37_600);
        assert!(call_script("G722").starts_with("0.000 call started id=c1 dir=in"));
        assert!(call_script("G722").contains("codec=G722\n"));
        assert_eq!(mac(0, false), "02:00:00:00:00:01");
        assert_eq!(mac(10, true), "02:00:00:00:0a:02");
    }
}
