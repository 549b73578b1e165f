//! SIGINT/SIGTERM/SIGHUP handling: the handler only records the signal; the runner
//! notices between steps, finishes the current step, applies the safe state and
//! writes the reports before exiting with 128 + signal.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicU32 = AtomicU32::new(0);

extern "C" fn record(sig: i32) {
    // Only atomic operations: async-signal-safe. The first signal is the one obeyed;
    // later ones are counted and reported, so a second Ctrl-C cannot cut the safe
    // state short.
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Installs the recording handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(record),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only performs an atomic store.
        unsafe { signal::sigaction(sig, &action) }?;
    }
    Ok(())
}

/// The signal received, if any.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// How many terminating signals arrived in all.
pub fn count() -> u32 {
    COUNT.load(Ordering::SeqCst)
}

/// The conventional exit code for a signal: 128 + its number (130 for SIGINT).
pub fn exit_code(sig: Signal) -> i32 {
    128 + sig as i32
}
