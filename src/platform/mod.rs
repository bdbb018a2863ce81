//! The outside world behind narrow traits: storage, clock and USB stick detection.

pub mod atomic;
pub mod clock;
pub mod random;
pub mod ticker;
pub mod udp;
pub mod usb;
