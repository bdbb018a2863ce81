//! How the tools take the signals that would end them (SIGINT, SIGTERM, SIGHUP): a handler
//! installed with SA_RESTART (the tool's own system calls go on after it), either one of the
//! tool's or [`catch`]'s, which only records the signal for [`caught`] to read, so that a tool
//! can stop what it started in order before it exits. A caught signal's handler does not
//! survive exec: the programs a tool starts get the default actions back.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signals that end a tool.
pub const TERMINATION: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Installs `handler` for each of `signals`.
pub fn handle(signals: &[libc::c_int], handler: extern "C" fn(libc::c_int)) -> std::io::Result<()> {
    for &signal in signals {
        // SAFETY: a zeroed sigaction with the handler and an empty mask is valid; the handlers
        // given here do only async-signal-safe work.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The last signal [`catch`] recorded, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: libc::c_int) {
    CAUGHT.store(signal, Ordering::SeqCst);
}

/// From now on `signals` only record themselves, for [`caught`].
pub fn catch(signals: &[libc::c_int]) -> std::io::Result<()> {
    handle(signals, record)
}

/// The signal [`catch`] recorded, if one came.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_is_recorded_and_the_tool_goes_on() {
        assert_eq!(caught(), None);
        catch(&[libc::SIGUSR1]).unwrap();
        // SAFETY: raise sends the signal to this thread; its handler only stores an atomic.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
        assert_eq!(caught(), Some(libc::SIGUSR1));
    }
}
