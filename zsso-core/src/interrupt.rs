//! The steps that a signal to stop must not cut in two: a restore's commit and what follows
//! it until its secrets.conf is in place (on MySQL, also the pointing of kept foreign keys at
//! the restored tables). Stopped in between, the database would hold the bundle's rows while
//! secrets.conf still held the old key1, until the next run.
//!
//! A restore holds [`hold`] over those steps; a program that handles SIGINT or SIGTERM (as
//! the `zsso` command does) waits while [`held`] is true before it exits. SIGKILL cannot be
//! waited for: the next run completes what such a stop left.

use std::sync::atomic::{AtomicUsize, Ordering};

static HELD: AtomicUsize = AtomicUsize::new(0);

/// While alive, [`held`] is true.
#[derive(Debug)]
#[must_use = "the steps are held only while the value lives"]
pub struct Hold(());

impl Drop for Hold {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Holds off a stop until the returned value is dropped.
pub fn hold() -> Hold {
    HELD.fetch_add(1, Ordering::SeqCst);
    Hold(())
}

/// Returns true if and only if some step is held (see the module's documentation).
pub fn held() -> bool {
    HELD.load(Ordering::SeqCst) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lasts_as_long_as_its_value() {
        assert!(!held());
        let a = hold();
        let b = hold();
        assert!(held());
        drop(a);
        assert!(held());
        drop(b);
        assert!(!held());
    }
}
