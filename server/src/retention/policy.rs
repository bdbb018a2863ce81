//! The decision of retention, without I/O: which period applies to a recording, when the sweep
//! may take it, and whether it is due now. Time is a parameter (Unix ms).
//!
//! A period is counted from the recording's start. The period of a recording is its device
//! group's override if the policy has one, else the global period; neither: it is kept for ever.
//! A recording is due once `start_ms + days × 86 400 000 <= now`, unless it is still recording or
//! on legal hold.

use std::collections::BTreeMap;

/// One day in ms.
pub const DAY_MS: u64 = 86_400_000;
/// The longest period accepted (100 years).
pub const MAX_DAYS: u32 = 36_500;
/// The most group overrides one policy holds.
pub const MAX_GROUPS: usize = 256;
/// The longest reason of a hold, a release or a delete, in characters.
pub const MAX_REASON: usize = 1000;

/// The retention in force: a global period and overrides by device group (days).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `None`: keep for ever (the default).
    pub days: Option<u32>,
    /// The group's period instead of the global one.
    pub groups: BTreeMap<String, u32>,
}

/// Why a policy is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// A period outside 1..=[`MAX_DAYS`].
    Days(i64),
    /// A group name that is empty, too long or has a control character.
    Group(String),
    TooManyGroups(usize),
}

impl Invalid {
    /// Its stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Days(_) => "bad_days",
            Invalid::Group(_) => "bad_group",
            Invalid::TooManyGroups(_) => "too_many_groups",
        }
    }
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Invalid::Days(d) => write!(f, "a period of {d} days: 1 to {MAX_DAYS}, or null"),
            Invalid::Group(g) => write!(
                f,
                "group {g:?}: 1 to {} printable characters",
                crate::devices::MAX_GROUP
            ),
            Invalid::TooManyGroups(n) => write!(f, "{n} groups: at most {MAX_GROUPS}"),
        }
    }
}

/// A period in days as given (JSON, the console), checked.
pub fn days(d: i64) -> Result<u32, Invalid> {
    u32::try_from(d)
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .ok_or(Invalid::Days(d))
}

/// A group name of an override, checked as the registry checks its groups (and not empty: the
/// recordings of no group follow the global period).
pub fn group(g: &str) -> Result<String, Invalid> {
    match crate::devices::group(g) {
        Ok(v) if !v.is_empty() && v == g => Ok(v),
        _ => Err(Invalid::Group(g.chars().take(80).collect())),
    }
}

impl Policy {
    /// Checks every part of a policy.
    pub fn check(&self) -> Result<(), Invalid> {
        if let Some(d) = self.days {
            days(i64::from(d))?;
        }
        if self.groups.len() > MAX_GROUPS {
            return Err(Invalid::TooManyGroups(self.groups.len()));
        }
        for (g, d) in &self.groups {
            group(g)?;
            days(i64::from(*d))?;
        }
        Ok(())
    }

    /// As the API and the audit trail show it: `{"days": null|N, "groups": {"G": N, …}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "days": self.days, "groups": self.groups })
    }

    /// Nothing is ever due.
    pub fn keeps_all(&self) -> bool {
        self.days.is_none() && self.groups.is_empty()
    }

    /// The period of a recording of device group `group`, in days; `None`: for ever.
    pub fn period(&self, group: &str) -> Option<u32> {
        self.groups.get(group).copied().or(self.days)
    }

    /// When the sweep may take a recording of `group` that started at `start_ms` (Unix ms);
    /// `None`: never under this policy.
    pub fn delete_after_ms(&self, group: &str, start_ms: u64) -> Option<u64> {
        let days = self.period(group)?;
        Some(start_ms.saturating_add(u64::from(days) * DAY_MS))
    }

    /// What a query must select to find every recording that may be due at `now_ms`: each
    /// override's group with its cutoff, and the cutoff of every other group (the global one).
    /// A recording started before its cutoff is past its period.
    pub fn cutoffs(&self, now_ms: u64) -> Cutoffs {
        let cut = |d: u32| {
            now_ms
                .saturating_sub(u64::from(d) * DAY_MS)
                .saturating_add(1)
        };
        Cutoffs {
            groups: self
                .groups
                .iter()
                .map(|(g, d)| (g.clone(), cut(*d)))
                .collect(),
            others: self.days.map(cut),
        }
    }
}

/// Start times before which recordings are past their period (see [`Policy::cutoffs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoffs {
    /// (group, cutoff): a recording of that group started before the cutoff.
    pub groups: Vec<(String, u64)>,
    /// The cutoff of a recording of any group not in `groups`; `None`: they are kept.
    pub others: Option<u64>,
}

/// What the decision needs of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub group: String,
    pub start_ms: u64,
    /// Its sidecar has a stop.
    pub finished: bool,
    /// On legal hold.
    pub held: bool,
}

/// What retention does with a recording now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Past its period, finished, not held: the sweep deletes it.
    Due,
    /// No period applies.
    Forever,
    /// Its period ends then (Unix ms).
    NotYet(u64),
    /// Past its period, but still recording.
    InProgress,
    /// Past its period (or not), but on legal hold.
    OnHold,
}

/// The verdict on `c` under `policy` at `now_ms`.
pub fn decide(c: &Candidate, policy: &Policy, now_ms: u64) -> Verdict {
    let Some(after) = policy.delete_after_ms(&c.group, c.start_ms) else {
        return Verdict::Forever;
    };
    if c.held {
        Verdict::OnHold
    } else if after > now_ms {
        Verdict::NotYet(after)
    } else if !c.finished {
        Verdict::InProgress
    } else {
        Verdict::Due
    }
}

/// How many of `candidates` are due.
pub fn count_due<'a>(
    candidates: impl IntoIterator<Item = &'a Candidate>,
    policy: &Policy,
    now_ms: u64,
) -> u64 {
    candidates
        .into_iter()
        .filter(|c| decide(c, policy, now_ms) == Verdict::Due)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn rec(group: &str, days_ago: u64, finished: bool, held: bool) -> Candidate {
        Candidate {
            group: group.into(),
            start_ms: NOW - days_ago * DAY_MS,
            finished,
            held,
        }
    }

    fn policy(days: Option<u32>, groups: &[(&str, u32)]) -> Policy {
        Policy {
            days,
            groups: groups.iter().map(|(g, d)| (g.to_string(), *d)).collect(),
        }
    }

    #[test]
    fn no_retention_keeps_everything_for_ever() {
        let p = Policy::default();
        assert!(p.keeps_all());
        assert_eq!(
            decide(&rec("Sales", 10_000, true, false), &p, NOW),
            Verdict::Forever
        );
        assert_eq!(p.delete_after_ms("Sales", 5), None);
        assert_eq!(
            p.cutoffs(NOW),
            Cutoffs {
                groups: vec![],
                others: None
            }
        );
    }

    #[test]
    fn a_group_override_wins_over_the_global_period_either_way() {
        let p = policy(Some(365), &[("Sales", 30), ("Legal", 3650)]);
        assert_eq!(
            decide(&rec("Sales", 31, true, false), &p, NOW),
            Verdict::Due
        );
        assert_eq!(
            decide(&rec("Legal", 400, true, false), &p, NOW),
            Verdict::NotYet(NOW + 3250 * DAY_MS)
        );
        assert_eq!(decide(&rec("", 366, true, false), &p, NOW), Verdict::Due);
        assert_eq!(
            decide(&rec("Support", 364, true, false), &p, NOW),
            Verdict::NotYet(NOW + DAY_MS)
        );
        // Only an override, no global period: the other groups are kept.
        let only = policy(None, &[("Sales", 30)]);
        assert_eq!(
            decide(&rec("Support", 9999, true, false), &only, NOW),
            Verdict::Forever
        );
        assert_eq!(
            decide(&rec("Sales", 30, true, false), &only, NOW),
            Verdict::Due
        );
    }

    #[test]
    fn the_period_ends_exactly_at_its_last_millisecond() {
        let p = policy(Some(30), &[]);
        let mut c = rec("", 30, true, false);
        assert_eq!(decide(&c, &p, NOW), Verdict::Due);
        c.start_ms += 1;
        assert_eq!(decide(&c, &p, NOW), Verdict::NotYet(NOW + 1));
        assert_eq!(decide(&c, &p, NOW + 1), Verdict::Due);
        // The cutoff agrees: a start before it is past the period.
        let cut = p.cutoffs(NOW).others.unwrap();
        assert_eq!(cut, NOW - 30 * DAY_MS + 1);
        assert!(rec("", 30, true, false).start_ms < cut && c.start_ms >= cut);
    }

    #[test]
    fn a_hold_or_a_recording_in_progress_is_never_due() {
        let p = policy(Some(1), &[]);
        assert_eq!(decide(&rec("", 90, true, true), &p, NOW), Verdict::OnHold);
        assert_eq!(
            decide(&rec("", 90, false, false), &p, NOW),
            Verdict::InProgress
        );
        assert_eq!(decide(&rec("", 90, false, true), &p, NOW), Verdict::OnHold);
        let all = [
            rec("", 90, true, true),
            rec("", 90, false, false),
            rec("", 90, true, false),
            rec("", 0, true, false),
        ];
        assert_eq!(count_due(&all, &p, NOW), 1);
    }

    #[test]
    fn cutoffs_name_each_override_and_the_rest() {
        let p = policy(Some(10), &[("A", 1), ("B", 2)]);
        let c = p.cutoffs(NOW);
        assert_eq!(
            c.groups,
            vec![
                ("A".into(), NOW - DAY_MS + 1),
                ("B".into(), NOW - 2 * DAY_MS + 1)
            ]
        );
        assert_eq!(c.others, Some(NOW - 10 * DAY_MS + 1));
        // Far in the past, no underflow.
        assert_eq!(policy(Some(MAX_DAYS), &[]).cutoffs(5).others, Some(1));
    }

    #[test]
    fn periods_and_groups_are_checked() {
        assert_eq!(days(1), Ok(1));
        assert_eq!(days(36_500), Ok(36_500));
        for bad in [0, -1, 36_501, i64::MAX] {
            assert_eq!(days(bad), Err(Invalid::Days(bad)));
        }
        assert!(group("Sales").is_ok());
        for bad in ["", " Sales", "a\nb", &"x".repeat(200)] {
            assert!(group(bad).is_err(), "{bad:?}");
        }
        assert!(policy(Some(0), &[]).check().is_err());
        assert!(policy(None, &[("", 3)]).check().is_err());
        assert!(policy(Some(3), &[("G", 4)]).check().is_ok());
        let many: Vec<(String, u32)> = (0..=MAX_GROUPS).map(|i| (format!("g{i}"), 1)).collect();
        let p = Policy {
            days: None,
            groups: many.into_iter().collect(),
        };
        assert_eq!(p.check(), Err(Invalid::TooManyGroups(MAX_GROUPS + 1)));
    }
}
