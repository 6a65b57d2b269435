//! The watch on `--policies`: file-system events that may change what the
//! directory serves, without the ones that only read it.
//!
//! inotify reports every open and close of a watched file, and the server
//! opens each component itself when it loads the policy on first use (and
//! the reload reads the manifests of changed files). Counted as changes,
//! those reads made every lazy load trigger a rescan of the whole directory
//! and an info line saying that a component changed when none had.

use std::path::Path;

use notify_debouncer_mini::notify::{
    self, Config, Event, EventHandler, EventKind, RecommendedWatcher, RecursiveMode, Watcher,
    WatcherKind,
};

/// The platform's watcher, passing on every event but accesses (opens,
/// reads and closes without a write). Writes, creations, removals, renames
/// and metadata changes all pass.
pub struct ChangeWatcher {
    inner: RecommendedWatcher,
}

/// Whether `event` may change a file's contents or presence.
fn is_change(event: &notify::Result<Event>) -> bool {
    !matches!(
        event,
        Ok(Event {
            kind: EventKind::Access(_),
            ..
        })
    )
}

impl Watcher for ChangeWatcher {
    fn new<F: EventHandler>(mut handler: F, config: Config) -> notify::Result<Self> {
        let inner = RecommendedWatcher::new(
            move |event: notify::Result<Event>| {
                if is_change(&event) {
                    handler.handle_event(event);
                }
            },
            config,
        )?;
        Ok(ChangeWatcher { inner })
    }

    fn watch(&mut self, path: &Path, recursive_mode: RecursiveMode) -> notify::Result<()> {
        self.inner.watch(path, recursive_mode)
    }

    fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
        self.inner.unwatch(path)
    }

    fn configure(&mut self, option: Config) -> notify::Result<bool> {
        self.inner.configure(option)
    }

    fn kind() -> WatcherKind {
        RecommendedWatcher::kind()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// A bound on a hang while waiting for an event, not a speed.
    const HANG: Duration = Duration::from_secs(60);

    #[test]
    fn reading_a_watched_file_is_not_a_change_and_writing_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let read = dir.path().join("a.wasm");
        std::fs::write(&read, b"old").unwrap();
        let (events, received) = mpsc::channel();
        let mut watcher = ChangeWatcher::new(events, Config::default()).unwrap();
        watcher
            .watch(dir.path(), RecursiveMode::NonRecursive)
            .unwrap();
        // inotify keeps events in order: had the read passed, it would
        // arrive before the write's.
        assert_eq!(std::fs::read(&read).unwrap(), b"old");
        let written = dir.path().join("b.wasm");
        std::fs::write(&written, b"new").unwrap();
        let first = received.recv_timeout(HANG).expect("an event").unwrap();
        assert_eq!(first.paths, [written], "{first:?}");
        assert!(!matches!(first.kind, EventKind::Access(_)), "{first:?}");
    }
}
