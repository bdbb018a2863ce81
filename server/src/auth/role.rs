//! Roles and scope. A user (or a token) holds a set of roles and a scope: the device groups
//! whose recordings exist for it (empty: every group). What a route needs is decided here.
//!
//! - admin: users, tokens, devices, settings; sees the recordings' metadata (listing, search,
//!   one recording) so that retention and deletion can be run, but not their audio.
//! - supervisor: search, listen, download.
//! - auditor: the audit trail; listens only if also a supervisor.
//! - metrics: reads `/metrics` and nothing else (for a Prometheus token). An admin reads it too,
//!   and may give a token this role without holding it.

use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Supervisor,
    Auditor,
    Metrics,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Auditor, Role::Metrics];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Metrics => "metrics",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::Supervisor => 2,
            Role::Auditor => 4,
            Role::Metrics => 8,
        }
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |b, r| b | r.bit()))
    }

    pub fn has(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every role of `self` is one of `other`'s.
    pub fn within(self, other: Roles) -> bool {
        self.0 & !other.0 == 0
    }

    /// The roles a holder of `self` may give a token: its own, and `metrics` if an admin.
    pub fn grantable(self) -> Roles {
        if self.has(Role::Admin) {
            Roles(self.0 | Role::Metrics.bit())
        } else {
            self
        }
    }

    /// Whether these roles may read `/metrics`: admin or metrics.
    pub fn reads_metrics(self) -> bool {
        self.has(Role::Admin) || self.has(Role::Metrics)
    }

    /// `admin,supervisor` (any order, no repeats needed); `None` for an unknown or empty name.
    pub fn parse(text: &str) -> Option<Roles> {
        let mut roles = Roles::default();
        for part in text.split(',') {
            let role = Role::ALL.into_iter().find(|r| r.name() == part.trim())?;
            roles.0 |= role.bit();
        }
        (!roles.is_empty()).then_some(roles)
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.has(*r))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::name).collect();
        f.pad(&names.join(","))
    }
}

/// The most groups one scope names.
pub const MAX_GROUPS: usize = 64;
/// The longest group name a scope accepts (the registry's groups are shorter).
pub const MAX_GROUP_LEN: usize = 64;

/// The device groups whose recordings exist for someone; empty: every group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Every group.
    pub fn all() -> Scope {
        Scope(Vec::new())
    }

    /// `G1,G2`; `None` if a name is empty, too long, has a control character or a comma, or
    /// there are too many. Sorted, without repeats.
    pub fn parse(text: &str) -> Option<Scope> {
        let mut groups = Vec::new();
        for g in text.split(',') {
            let ok = !g.is_empty() && g.len() <= MAX_GROUP_LEN && !g.chars().any(char::is_control);
            if !ok {
                return None;
            }
            groups.push(g.to_string());
        }
        groups.sort();
        groups.dedup();
        (groups.len() <= MAX_GROUPS).then_some(Scope(groups))
    }

    /// The groups, sorted; empty: every group.
    pub fn groups(&self) -> &[String] {
        &self.0
    }

    pub fn is_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Every recording `self` reaches, `other` reaches too.
    pub fn within(&self, other: &Scope) -> bool {
        other.is_all() || (!self.is_all() && self.0.iter().all(|g| other.0.contains(g)))
    }

    /// Whether a recording of device group `group` exists for this scope.
    pub fn reaches(&self, group: &str) -> bool {
        self.is_all() || self.0.iter().any(|g| g == group)
    }

    /// As stored: the groups joined by commas (`""`: every group).
    pub fn stored(&self) -> String {
        self.0.join(",")
    }

    /// What [`Scope::stored`] wrote.
    pub fn from_stored(text: &str) -> Option<Scope> {
        if text.is_empty() {
            Some(Scope::all())
        } else {
            Scope::parse(text)
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.pad("all groups")
        } else {
            f.pad(&self.0.join(","))
        }
    }
}

/// What a resource of the web side needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The listing, a search, one recording's metadata: supervisor or admin.
    Metadata,
    /// Audio, a download, an original file: supervisor.
    Audio,
}

impl Need {
    pub fn allowed(self, roles: Roles) -> bool {
        match self {
            Need::Metadata => roles.has(Role::Supervisor) || roles.has(Role::Admin),
            Need::Audio => roles.has(Role::Supervisor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_print_and_compare() {
        let r = Roles::parse("supervisor,admin").unwrap();
        assert_eq!(r.to_string(), "admin,supervisor");
        assert!(Roles::parse("supervisor").unwrap().within(r));
        assert!(!Roles::parse("auditor").unwrap().within(r));
        for bad in ["", "root", "admin,", "admin,root"] {
            assert_eq!(Roles::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_scope_is_within_another_only_if_it_reaches_no_more() {
        let all = Scope::all();
        let a = Scope::parse("sales").unwrap();
        let ab = Scope::parse("support,sales,sales").unwrap();
        assert_eq!(ab.groups(), ["sales", "support"]);
        assert!(a.within(&ab) && ab.within(&all) && all.within(&all));
        assert!(!ab.within(&a) && !all.within(&a));
        assert!(a.reaches("sales") && !a.reaches("support") && !a.reaches(""));
        assert!(all.reaches(""));
        assert_eq!(Scope::from_stored(&ab.stored()), Some(ab));
        for bad in ["", "a,", ",a", "a\nb"] {
            assert_eq!(Scope::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn metadata_for_supervisors_and_admins_audio_for_supervisors_only() {
        let p = |s| Roles::parse(s).unwrap();
        assert!(Need::Metadata.allowed(p("admin")));
        assert!(!Need::Audio.allowed(p("admin")));
        assert!(Need::Audio.allowed(p("supervisor")));
        assert!(!Need::Metadata.allowed(p("auditor")));
        assert!(!Need::Audio.allowed(p("auditor")));
        assert!(Need::Audio.allowed(p("auditor,supervisor")));
        assert!(!Need::Metadata.allowed(p("metrics")));
    }

    #[test]
    fn metrics_for_admins_and_the_metrics_role_which_an_admin_may_grant() {
        let p = |s| Roles::parse(s).unwrap();
        assert!(p("admin").reads_metrics() && p("metrics").reads_metrics());
        assert!(!p("supervisor,auditor").reads_metrics());
        assert!(p("metrics").within(p("admin").grantable()));
        assert!(!p("metrics").within(p("supervisor").grantable()));
        assert_eq!(p("admin,metrics").to_string(), "admin,metrics");
    }
}
