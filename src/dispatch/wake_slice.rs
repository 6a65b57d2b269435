//! Per-thread scheduler time slices for the worker threads (Linux EEVDF).
//!
//! Since Linux 6.12 a normal (`SCHED_OTHER`) thread may ask, without
//! privileges, for its own time slice: `sched_setattr` with `sched_runtime`
//! set, clamped by the kernel to 0.1–100 ms. A thread with a shorter slice
//! than the one running gets an earlier virtual deadline, so when it wakes
//! it preempts that thread instead of waiting for its slice to end.
//!
//! The worker pool uses this at light load: a worker about to sleep while
//! other workers are idle too asks for a short slice, so that when the next
//! call wakes it, it runs at once instead of queueing behind another
//! worker's after-call work (dropping a store, making the next instance);
//! that work, and every call under load, runs with the kernel's default
//! slice. On older kernels (which accept the call and ignore the value) the
//! pool does not ask; see [`supported`].

use std::cell::Cell;
use std::io;
use std::time::Duration;

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
