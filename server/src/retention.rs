//! Retention and legal hold: how long the archive keeps a recording, and what keeps it longer.
//!
//! - The policy ([`policy`], sans-IO): a global period in days (none: keep for ever, the
//!   default) and overrides by device group (the group a recording has in the catalog, copied
//!   from the device registry at its start). Stored in the catalog (`retention_global`,
//!   `retention`); changed by an admin (`PUT /api/retention`, `callrec-server retention set`),
//!   with a dry run that says how many recordings the change would delete now.
//! - Legal hold (`holds`): on one recording, or on every recording a search matches within the
//!   requester's scope. A held recording is deleted by neither the sweep nor an admin until an
//!   admin releases it.
//! - The sweep ([`sweep`]), in the running server: at start and then periodically, deletes
//!   every finished, unheld recording past its period, each with a `disposal` entry.
//! - An admin's delete: with a reason, audited (`delete`); refused while held or recording.
//!
//! # Deleting safely
//!
//! A deletion ([`dispose::remove`]) goes in this order:
//!
//! 1. One transaction, holding the audit trail's head: the checks (the row exists, is finished,
//!    is not held, and for the sweep is still due under the policy read there), the row's
//!    removal, a `disposals` row naming the recording (its RID, call id and start), and the
//!    `delete` or `disposal` entry. Nothing is removed from the disk before this commits: a
//!    deletion that cannot be audited does not happen, and a hold set at the same moment is
//!    either seen here or set after the row is gone (404).
//! 2. The Record files, then a sync of the day folder.
//! 3. The sidecar, then a sync of the day folder. It goes last: while it exists, the deletion is
//!    not over, and the `disposals` row says so.
//! 4. The `disposals` row.
//!
//! A stop at any point leaves a state the start-up sync (`catalog::sync`) and the sweep
//! understand: after 1, the sidecar of a recording with a `disposals` row is not imported
//! again (no resurrection) and its row is not marked missing (it has none: the sync's
//! `Stamp::GONE` is only ever for a sidecar that vanished while its row stayed, which a
//! deletion never leaves); the sweep's next pass, the first at start, finishes each
//! `disposals` row (steps 2 to 4, each harmless to repeat). Deleting the files first would
//! have turned a stop between the files and the row into a recording "missing" with no entry
//! saying it was deleted.

pub mod cli;
pub mod dispose;
pub mod policy;
pub mod sweep;
