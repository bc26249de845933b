//! The steps that a signal to stop must not cut in two: a restore's commit and what follows
//! it until its secrets.conf is in place (on MySQL, also the pointing of kept foreign keys at
//! the restored tables). Stopped in between, the database would hold the bundle's rows while
//! secrets.conf still held the old key1, until the next run.
//!
//! A restore holds [`hold`] over those steps; a program that handles SIGINT or SIGTERM (as
//! the `zsso` command does) stops through [`stop_unless_held`], which decides under the same
//! lock as [`hold`]: either the steps were entered first and the stop waits for them, or the
//! stop runs first and a hold asked for meanwhile waits for it (it ends the process, so the
//! steps never start). SIGKILL cannot be waited for: the next run completes what such a stop
//! left.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// How many holds are alive.
static HELD: Mutex<usize> = Mutex::new(0);

fn held_count() -> MutexGuard<'static, usize> {
    // A count has no invariant that a panic elsewhere could have broken.
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// While alive, [`held`] is true.
#[derive(Debug)]
#[must_use = "the steps are held only while the value lives"]
pub struct Hold(());

impl Drop for Hold {
    fn drop(&mut self) {
        *held_count() -= 1;
    }
}

/// Holds off a stop until the returned value is dropped. Waits while a stop is running.
pub fn hold() -> Hold {
    *held_count() += 1;
    Hold(())
}

/// Returns true if and only if some step is held (see the module's documentation).
pub fn held() -> bool {
    *held_count() > 0
}

/// Directories that a stop removes before it ends the process, which runs no destructor:
/// a conversion's private copy of a bundle holds secrets.conf and the rows.
static REMOVED_ON_STOP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn removed_on_stop() -> MutexGuard<'static, Vec<PathBuf>> {
    REMOVED_ON_STOP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// While alive, a stop through [`stop_unless_held`] removes the directory first.
#[derive(Debug)]
#[must_use = "the directory is removed on a stop only while the value lives"]
pub struct RemovedOnStop(PathBuf);

impl Drop for RemovedOnStop {
    fn drop(&mut self) {
        let mut dirs = removed_on_stop();
        if let Some(i) = dirs.iter().position(|d| *d == self.0) {
            dirs.remove(i);
        }
    }
}

/// Has a stop remove `dir` (and all it holds) before it ends the process, as long as the
/// returned value lives.
pub fn remove_on_stop(dir: &Path) -> RemovedOnStop {
    removed_on_stop().push(dir.to_path_buf());
    RemovedOnStop(dir.to_path_buf())
}

/// Runs `stop` (which should end the process) unless some step is held, and returns whether
/// it ran; the directories given to [`remove_on_stop`] are removed first. No step can be
/// entered while `stop` runs: [`hold`] waits for it.
pub fn stop_unless_held(stop: impl FnOnce()) -> bool {
    let count = held_count();
    if *count > 0 {
        return false;
    }
    for dir in removed_on_stop().iter() {
        let _ = std::fs::remove_dir_all(dir);
    }
    stop();
    drop(count);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_and_a_stop_wait_for_each_other() {
        assert!(!held());
        let a = hold();
        let b = hold();
        assert!(held());
        assert!(!stop_unless_held(|| panic!("a stop ran during a hold")));
        drop(a);
        assert!(held());
        drop(b);
        assert!(!held());
        let mut ran = false;
        // A stop removes the directories registered, and only while they are.
        let tmp = tempfile::tempdir().unwrap();
        let (kept, removed) = (tmp.path().join("kept"), tmp.path().join("removed"));
        for d in [&kept, &removed] {
            std::fs::create_dir_all(d.join("bundle")).unwrap();
            std::fs::write(d.join("bundle/secrets.conf"), "key1=x").unwrap();
        }
        drop(remove_on_stop(&kept));
        let registered = remove_on_stop(&removed);
        assert!(stop_unless_held(|| ran = true));
        assert!(ran);
        assert!(kept.join("bundle/secrets.conf").exists());
        assert!(!removed.exists());
        drop(registered);

        // A hold asked for while a stop runs is had only once the stop has ended (one test:
        // the count is the process's own).
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let o = std::sync::Arc::clone(&order);
        let stopper = std::thread::spawn(move || {
            stop_unless_held(|| {
                entered_tx.send(()).unwrap();
                // The hold below is asked for now, and must not be had before this ends.
                std::thread::sleep(std::time::Duration::from_millis(200));
                o.lock().unwrap().push("stop ended");
            })
        });
        entered.recv().unwrap();
        let h = hold();
        order.lock().unwrap().push("held");
        drop(h);
        assert!(stopper.join().unwrap());
        assert_eq!(*order.lock().unwrap(), ["stop ended", "held"]);
    }
}
