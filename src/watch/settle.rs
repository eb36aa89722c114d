//! [`Settler`]: holds a path until it has been quiet for the settle period, so a file still
//! being written is never queued.
//!
//! Two kinds of evidence feed it. inotify *events* are trusted: when none arrived for the
//! quiet period (and the writer closed the file, where a write was seen), the file is done
//! and one `stat` confirms it still exists. *Observations* (the poll backend, a scan that
//! met a freshly written file) carry the size/mtime/inode seen; such a path settles only
//! when a later `stat`, a quiet period on, sees the same identity. A writer that keeps a
//! file open without writing for longer than [`WRITER_GRACE_FACTOR`] quiet periods is
//! assumed gone (its close event may have been lost). Observations wait their own, longer
//! quiet period: with polling, two polls must have seen the file unchanged.
//!
//! A file that settled but whose structure says it is incomplete is [held](Settler::hold)
//! until a given time: nothing may announce that its writer is back (a share, a lost
//! event), so the settler looks at it again by itself then.
//!
//! The settler is plain data driven by the caller's clock, so its rules are unit-tested
//! without sleeping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::walk::Identity;

/// A path open for writing settles after this many quiet periods even without a close.
pub const WRITER_GRACE_FACTOR: u32 = 10;

/// What is known about a path that may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// An event said it changed (created, renamed to, attributes).
    Changed,
    /// An event said it was written to: a writer has it open.
    Written,
    /// An event said a writer closed it.
    Closed,
    /// A walk saw it with this identity.
    Seen(Identity),
}

#[derive(Debug)]
struct Entry {
    /// `watch[N]`, 1-based.
    watch: usize,
    /// The identity to confirm; `None` while events are trusted.
    expect: Option<Identity>,
    quiet_since: Instant,
    writing: bool,
    /// Held (it looked incomplete) until then, unless it changes first.
    hold_until: Option<Instant>,
}

/// Paths waiting to be quiet.
#[derive(Debug)]
pub struct Settler {
    quiet: Duration,
    /// The quiet period of paths known only by observations.
    observed_quiet: Duration,
    entries: HashMap<PathBuf, Entry>,
}

/// A file that has settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub watch: usize,
    pub path: PathBuf,
    pub identity: Identity,
}

impl Settler {
    /// A settler with this quiet period for events, and `observed_quiet` (at least as
    /// long) for observations.
    pub fn new(quiet: Duration, observed_quiet: Duration) -> Settler {
        Settler {
            quiet,
            observed_quiet: observed_quiet.max(quiet),
            entries: HashMap::new(),
        }
    }

    /// Paths being held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records evidence about `path` (under `watch[watch]`).
    pub fn note(&mut self, watch: usize, path: PathBuf, hint: Hint, now: Instant) {
        let entry = self.entries.entry(path).or_insert(Entry {
            watch,
            expect: None,
            quiet_since: now,
            writing: false,
            hold_until: None,
        });
        match hint {
            Hint::Seen(identity) => {
                if entry.expect != Some(identity) {
                    entry.expect = Some(identity);
                    entry.quiet_since = now;
                    entry.hold_until = None;
                }
            }
            Hint::Changed | Hint::Written | Hint::Closed => {
                entry.expect = None;
                entry.hold_until = None;
                entry.quiet_since = now;
                entry.writing = match hint {
                    Hint::Written => true,
                    Hint::Closed => false,
                    _ => entry.writing,
                };
            }
        }
    }

    /// Holds `path`, seen with `identity`, until `until`: it settled but looked
    /// incomplete. A change (event or different identity) ends the hold early.
    pub fn hold(
        &mut self,
        watch: usize,
        path: PathBuf,
        identity: Identity,
        until: Instant,
        now: Instant,
    ) {
        self.entries.insert(
            path,
            Entry {
                watch,
                expect: Some(identity),
                quiet_since: now,
                writing: false,
                hold_until: Some(until),
            },
        );
    }

    /// Stops holding `path` (it was removed or renamed away).
    pub fn forget(&mut self, path: &Path) {
        self.entries.remove(path);
    }

    /// When `e` is due to be looked at.
    fn due_at(&self, e: &Entry) -> Instant {
        if let Some(until) = e.hold_until {
            return until;
        }
        let wait = if e.writing {
            self.quiet * WRITER_GRACE_FACTOR
        } else if e.expect.is_some() {
            self.observed_quiet
        } else {
            self.quiet
        };
        e.quiet_since + wait
    }

    fn is_due(&self, e: &Entry, now: Instant) -> bool {
        now >= self.due_at(e)
    }

    /// Paths quiet long enough to be looked at now.
    pub fn due(&self, now: Instant) -> Vec<PathBuf> {
        self.entries
            .iter()
            .filter(|(_, e)| self.is_due(e, now))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// When the next path may be due, if any is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.values().map(|e| self.due_at(e)).min()
    }

    /// Records what a `stat` of a due `path` found (`None`: gone, or not a regular file).
    /// Returns the file when it has settled; otherwise it stays held (or is dropped, when
    /// gone).
    pub fn checked(
        &mut self,
        path: &Path,
        found: Option<Identity>,
        now: Instant,
    ) -> Option<Settled> {
        let Some(found) = found else {
            self.entries.remove(path);
            return None;
        };
        let entry = self.entries.get_mut(path)?;
        match entry.expect {
            Some(expected) if expected != found => {
                entry.expect = Some(found);
                entry.quiet_since = now;
                entry.hold_until = None;
                None
            }
            _ => {
                let watch = entry.watch;
                self.entries.remove(path);
                Some(Settled {
                    watch,
                    path: path.to_owned(),
                    identity: found,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_secs(2);

    fn id(size: u64) -> Identity {
        Identity {
            size,
            mtime_ns: size as i64,
            inode: 1,
        }
    }

    #[test]
    fn events_hold_a_file_until_they_stop_for_the_quiet_period() {
        let t0 = Instant::now();
        let mut s = Settler::new(Q, Q);
        let p = PathBuf::from("/cam/a.jpg");
        s.note(1, p.clone(), Hint::Changed, t0);
        s.note(1, p.clone(), Hint::Closed, t0 + Duration::from_secs(1));
        assert!(s.due(t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(3)));
        let due = s.due(t0 + Duration::from_secs(3));
        assert_eq!(due, vec![p.clone()]);
        let settled = s
            .checked(&p, Some(id(5)), t0 + Duration::from_secs(3))
            .unwrap();
        assert_eq!((settled.watch, settled.identity), (1, id(5)));
        assert!(s.is_empty());
    }

    #[test]
    fn an_open_writer_delays_settling_up_to_the_grace() {
        let t0 = Instant::now();
        let mut s = Settler::new(Q, Q);
        let p = PathBuf::from("/cam/slow.mp4");
        s.note(1, p.clone(), Hint::Written, t0);
        assert!(
            s.due(t0 + Q * 3).is_empty(),
            "the writer paused, not finished"
        );
        assert_eq!(s.due(t0 + Q * WRITER_GRACE_FACTOR), vec![p]);
    }

    #[test]
    fn an_observation_settles_only_when_a_later_look_agrees() {
        let t0 = Instant::now();
        let mut s = Settler::new(Q, Q);
        let p = PathBuf::from("/nfs/a.mov");
        s.note(2, p.clone(), Hint::Seen(id(10)), t0);
        // The same observation again does not restart the clock.
        s.note(
            2,
            p.clone(),
            Hint::Seen(id(10)),
            t0 + Duration::from_secs(1),
        );
        let t = t0 + Q;
        assert_eq!(s.due(t), vec![p.clone()]);
        assert_eq!(s.checked(&p, Some(id(20)), t), None, "it grew meanwhile");
        assert!(s.due(t + Duration::from_secs(1)).is_empty());
        let settled = s.checked(&p, Some(id(20)), t + Q).unwrap();
        assert_eq!((settled.watch, settled.identity), (2, id(20)));
    }

    #[test]
    fn observations_wait_their_longer_quiet_period_and_holds_end_on_change() {
        let t0 = Instant::now();
        let mut s = Settler::new(Q, Q * 3);
        let p = PathBuf::from("/nfs/b.png");
        s.note(1, p.clone(), Hint::Seen(id(10)), t0);
        assert!(s.due(t0 + Q).is_empty(), "one poll period is not enough");
        assert_eq!(s.due(t0 + Q * 3), vec![p.clone()]);
        let settled = s.checked(&p, Some(id(10)), t0 + Q * 3).unwrap();
        // It looked incomplete: held for a minute, however quiet.
        let until = t0 + Duration::from_secs(60);
        s.hold(1, p.clone(), settled.identity, until, t0 + Q * 3);
        assert!(s.due(t0 + Q * 10).is_empty());
        assert_eq!(s.next_due(), Some(until));
        assert_eq!(s.due(until), vec![p.clone()]);
        // It grew: the hold ends, the normal quiet period applies.
        s.note(1, p.clone(), Hint::Seen(id(20)), t0 + Q * 4);
        assert_eq!(s.next_due(), Some(t0 + Q * 7));
    }

    #[test]
    fn a_vanished_path_is_dropped() {
        let t0 = Instant::now();
        let mut s = Settler::new(Q, Q);
        let p = PathBuf::from("/cam/.tmp");
        s.note(1, p.clone(), Hint::Changed, t0);
        assert_eq!(s.checked(&p, None, t0 + Q), None);
        s.note(1, p.clone(), Hint::Changed, t0);
        s.forget(&p);
        assert_eq!(s.len(), 0);
    }
}
