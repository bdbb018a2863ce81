//! The table of every comparison (run, codec, host bytes, arm bytes, equal), and which runs
//! recorded other bytes at a repeat than the first time.

use crate::checks::Outcome;
use callrec_tools::markdown::table;
use std::collections::BTreeMap;

/// The Markdown table; with more than one repeat, each run's name has its repeat (`local #2`).
pub fn outcome_table(outcomes: &[Outcome], repeats: usize) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let name = if repeats == 1 {
                o.run.clone()
            } else {
                format!("{} #{}", o.run, o.repeat + 1)
            };
            vec![
                name,
                o.codec.clone(),
                o.host_bytes.to_string(),
                o.arm_bytes.to_string(),
                if o.equal() { "yes" } else { "**NO**" }.to_string(),
            ]
        })
        .collect();
    table(&["run", "codec", "host bytes", "arm bytes", "equal"], &rows)
}

/// The runs whose host build recorded other bytes at a repeat than at the first, by name.
pub fn unstable(outcomes: &[Outcome]) -> Vec<String> {
    let mut first: BTreeMap<&str, &[u8]> = BTreeMap::new();
    let mut out = Vec::new();
    for o in outcomes {
        let bytes = *first.entry(&o.run).or_insert(&o.host_contents);
        if bytes != o.host_contents.as_slice() && !out.contains(&o.run) {
            out.push(o.run.clone());
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(run: &str, repeat: usize, bytes: &[u8], problems: &[&str]) -> Outcome {
        Outcome {
            run: run.into(),
            repeat,
            codec: "PCMA".into(),
            host_bytes: 37676,
            arm_bytes: 37676,
            problems: problems.iter().map(|p| p.to_string()).collect(),
            host_contents: bytes.to_vec(),
        }
    }

    #[test]
    fn the_table_names_repeats_only_when_there_are_several() {
        let one = [outcome("local", 0, b"a", &[])];
        assert_eq!(
            outcome_table(&one, 1),
            "| run | codec | host bytes | arm bytes | equal |\n|---|---|---|---|---|\n\
             | local | PCMA | 37676 | 37676 | yes |\n"
        );
        let two = [
            outcome("local", 0, b"a", &[]),
            outcome("local", 1, b"a", &["differs"]),
        ];
        assert!(outcome_table(&two, 2).ends_with(
            "| local #1 | PCMA | 37676 | 37676 | yes |\n| local #2 | PCMA | 37676 | 37676 | **NO** |\n"
        ));
    }

    #[test]
    fn a_run_that_records_other_bytes_at_a_repeat_is_unstable() {
        let outcomes = [
            outcome("local", 0, b"a", &[]),
            outcome("network", 0, b"n", &[]),
            outcome("local", 1, b"b", &[]),
            outcome("network", 1, b"n", &[]),
            outcome("local", 2, b"c", &[]),
        ];
        assert_eq!(unstable(&outcomes), ["local"]);
        assert!(unstable(&outcomes[..2]).is_empty());
    }
}
