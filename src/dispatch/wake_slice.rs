//! Per-thread scheduler time slices for the worker threads (Linux EEVDF).
//!
//! Since Linux 6.12 a normal (`SCHED_OTHER`) thread may ask, without
//! privileges, for its own time slice: `sched_setattr` with `sched_runtime`
//! set, clamped by the kernel to 0.1–100 ms. A thread with a shorter slice
//! than the one running gets an earlier virtual deadline, so when it wakes
//! it preempts that thread instead of waiting for its slice to end.
//!
//! [`WakeSlice`] layers this onto a worker's [`WorkerState`]: a worker
//! about to sleep while at least [`LIGHT_LOAD_IDLE_PEERS`] other workers are
//! idle asks for a short slice, so that when the next call wakes it, it runs
//! at once instead of queueing behind another worker's after-call work
//! (dropping a store, making the next instance); that work, and every call
//! under load, runs with the kernel's default slice, because preempting
//! one another under load only adds context switches
//! (docs/benchmarks-history.md, session 7). On older kernels (which accept
//! the call and ignore the value) nothing is asked; see [`supported`].

use std::cell::Cell;
use std::io;
use std::time::Duration;

use super::workers::WorkerState;

/// How many other workers must be idle for a worker going to sleep to count
/// the load as light and ask for the wake slice.
pub const LIGHT_LOAD_IDLE_PEERS: usize = 2;

/// A worker state with the light-load wake slice on top (module docs).
pub struct WakeSlice<S> {
    inner: S,
    slice: Option<Duration>,
}

impl<S> WakeSlice<S> {
    /// `inner`, asking for `slice` before sleeping at light load; `None`
    /// leaves the kernel's default alone. Pass the slice through
    /// [`usable`] first.
    pub fn new(inner: S, slice: Option<Duration>) -> Self {
        WakeSlice { inner, slice }
    }

    /// The wrapped worker state.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Asks for `slice` (None: the default) if this worker uses a wake slice.
    fn ask(&self, slice: Option<Duration>) {
        if self.slice.is_none() {
            return;
        }
        if let Err(error) = set_thread_slice(slice) {
            static REPORTED: std::sync::Once = std::sync::Once::new();
            REPORTED.call_once(|| {
                tracing::warn!(%error, "cannot set a worker's time slice (is sched_setattr filtered?); workers keep the default slice");
            });
        }
    }
}

impl<S: WorkerState> WorkerState for WakeSlice<S> {
    fn after_job(&mut self) {
        self.ask(None);
        self.inner.after_job();
    }

    fn idle(&mut self) {
        self.ask(None);
        self.inner.idle();
    }

    fn before_sleep(&mut self, idle_peers: usize) {
        self.inner.before_sleep(idle_peers);
        if idle_peers >= LIGHT_LOAD_IDLE_PEERS {
            self.ask(self.slice);
        }
    }
}

/// `slice` if this kernel honours per-thread slices, else `None` (logged
/// once, by the caller's one call).
pub fn usable(slice: Option<Duration>) -> Option<Duration> {
    slice.filter(|_| {
        let supported = supported();
        if !supported {
            tracing::info!("this kernel has no per-thread time slices (Linux < 6.12); workers use the default slice");
        }
        supported
    })
}

thread_local! {
    /// The slice this thread last asked for (`None`: the kernel default).
    static ASKED: Cell<Option<Option<Duration>>> = const { Cell::new(None) };
}

/// Asks the kernel for `slice` as the calling thread's time slice (`None`
/// restores the default), keeping the thread's nice value. A request equal
/// to this thread's previous one makes no system call.
pub fn set_thread_slice(slice: Option<Duration>) -> io::Result<()> {
    if ASKED.with(Cell::get) == Some(slice) {
        return Ok(());
    }
    let mut attr = current_attr()?;
    // Only the flag the thread may already carry; the others ask for more
    // (utilization clamps, deadline flags) than this struct version holds.
    attr.sched_flags &= libc::SCHED_FLAG_RESET_ON_FORK as u64;
    attr.sched_runtime = slice.map_or(0, |slice| slice.as_nanos() as u64);
    // SAFETY: `attr` is a valid sched_attr whose size field is set; pid 0 is
    // the calling thread.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    ASKED.with(|asked| asked.set(Some(slice)));
    Ok(())
}

/// The time slice thread `tid` (0: the calling thread) runs with: the one
/// it asked for, or the kernel's default.
pub fn thread_slice(tid: libc::pid_t) -> io::Result<Duration> {
    Ok(Duration::from_nanos(attr_of(tid)?.sched_runtime))
}

/// Whether this kernel honours per-thread slices (Linux 6.12 or later).
pub fn supported() -> bool {
    kernel_version().is_some_and(|version| version >= (6, 12))
}

fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn current_attr() -> io::Result<libc::sched_attr> {
    let attr = attr_of(0)?;
    if attr.sched_policy != libc::SCHED_OTHER as u32 {
        return Err(io::Error::other(
            "the thread is not under the normal scheduling policy",
        ));
    }
    Ok(attr)
}

fn attr_of(tid: libc::pid_t) -> io::Result<libc::sched_attr> {
    // SAFETY: sched_attr is plain data; all zeroes is a valid value.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::sched_attr>() as libc::c_uint;
    // SAFETY: `attr` is writable for `size` bytes.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, tid, &mut attr, size, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    attr.size = size;
    Ok(attr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::workers::WorkerPool;

    const SHORT: Duration = Duration::from_micros(100);

    /// Runs a job reporting its worker's thread id and current slice.
    fn slice_seen_by_a_job<S: WorkerState>(pool: &WorkerPool<S>) -> (libc::pid_t, Duration) {
        pool.submit(|_: &mut S| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            (tid, thread_slice(0).unwrap())
        })
        .blocking_recv()
        .unwrap()
    }

    /// Reports the slice its worker has when the after-job hook runs.
    struct SliceAfterJob(std::sync::mpsc::Sender<Duration>);

    impl WorkerState for SliceAfterJob {
        fn after_job(&mut self) {
            let _ = self.0.send(thread_slice(0).unwrap());
        }
    }

    #[test]
    fn at_light_load_a_sleeping_worker_holds_the_wake_slice() {
        if !supported() {
            eprintln!("skipped: this kernel has no per-thread slices (Linux < 6.12)");
            return;
        }
        let default = thread_slice(0).unwrap();
        let (report, after_job) = std::sync::mpsc::channel();
        // Three workers: the last to sleep sees two idle peers.
        let pool = WorkerPool::new(3, |_| {
            WakeSlice::new(SliceAfterJob(report.clone()), Some(SHORT))
        });
        pool.wait_until_all_idle();
        let (tid, during_job) = slice_seen_by_a_job(&pool);
        assert_eq!(
            during_job, SHORT,
            "the woken worker runs its job on the short slice"
        );
        let after = after_job.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(after, default, "after-job work runs on the default slice");
        pool.wait_until_all_idle();
        let asleep = thread_slice(tid).unwrap();
        assert_eq!(asleep, SHORT);
    }

    #[test]
    fn without_enough_idle_peers_a_worker_keeps_the_default_slice() {
        // Two workers: a sleeping worker sees at most one idle peer.
        let default = thread_slice(0).unwrap();
        let pool = WorkerPool::new(2, |_| WakeSlice::new((), Some(SHORT)));
        for _ in 0..3 {
            pool.wait_until_all_idle();
            let (tid, during_job) = slice_seen_by_a_job(&pool);
            assert_eq!(during_job, default);
            pool.wait_until_all_idle();
            assert_eq!(thread_slice(tid).unwrap(), default);
        }
    }

    #[test]
    fn a_thread_gets_the_slice_it_asks_for_and_back_the_default() {
        if !supported() {
            eprintln!("skipped: this kernel has no per-thread slices (Linux < 6.12)");
            return;
        }
        let default = thread_slice(0).unwrap();
        std::thread::spawn(move || {
            let short = Duration::from_micros(100);
            assert_ne!(default, short);
            set_thread_slice(Some(short)).unwrap();
            assert_eq!(thread_slice(0).unwrap(), short);
            set_thread_slice(None).unwrap();
            assert_eq!(thread_slice(0).unwrap(), default);
        })
        .join()
        .unwrap();
    }
}
