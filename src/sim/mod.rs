//! The phone simulator (`callrec-sim`): host only.
