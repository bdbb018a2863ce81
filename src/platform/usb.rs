//! USB stick detection (placeholder: being written).
