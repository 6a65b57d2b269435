//! Admission: which calls may wait for a worker, and for how long.
//!
//! - One server-wide bound on queued calls (admitted, not yet taken by a
//!   worker), across every stream and connection. Past it a call is answered
//!   `overloaded` at once: under a burst a client gets a fast answer it can
//!   retry elsewhere instead of a wait longer than any deadline.
//! - A call that waited in the queue longer than its policy's deadline is
//!   answered `timeout` without running ([`Admission::check_wait`]): its
//!   caller has given up on it, and running it would only delay the calls
//!   behind it.
//! - [`StreamPermits`]: the cap on calls in flight per stream. The transport
//!   takes a permit before it reads the next frame, so past the cap reading
//!   pauses and HTTP/2 flow control pushes back on that client alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::dispatch::CallError;

/// Queued calls allowed per worker by default: at the ~0.2 ms a header
/// policy takes, 256 per worker is ~50 ms of queue, a tenth of the default
/// deadline.
pub const DEFAULT_QUEUED_PER_WORKER: usize = 256;

/// The server-wide queue bound for `workers` sandbox workers.
pub fn default_max_queued(workers: usize) -> usize {
    workers.max(1) * DEFAULT_QUEUED_PER_WORKER
}

/// Counts of calls admitted, waiting and running, with the queue bound.
pub struct Admission {
    max_queued: usize,
    queued: AtomicUsize,
    running: AtomicUsize,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl Admission {
    /// At most `max_queued` calls wait for a worker at once (at least one).
    pub fn new(max_queued: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_queued: max_queued.max(1),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        })
    }

    /// Admits one call into the queue, or refuses it when the queue is full.
    pub fn enter(self: &Arc<Self>) -> Result<Ticket, CallError> {
        let queued = self.queued.fetch_add(1, Ordering::SeqCst);
        if queued >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(CallError::Overloaded(format!(
                "{queued} calls are already waiting for a sandbox worker (--max-queued {}); retry later",
                self.max_queued
            )));
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Ok(Ticket {
            admission: self.clone(),
            queued_at: Instant::now(),
            state: TicketState::Queued,
        })
    }

    /// Calls waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Calls running on a worker now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Calls admitted and not finished (queued or running).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most calls ever in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Refuses to run a call that waited `waited` when its policy's
    /// deadline is `timeout`: its caller stopped waiting for it.
    pub fn check_wait(waited: Duration, timeout: Duration) -> Result<(), CallError> {
        if waited <= timeout {
            return Ok(());
        }
        Err(CallError::QueueTimeout { waited, timeout })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TicketState {
    Queued,
    Running,
}

/// One admitted call's place in the counts; dropping it, however the call
/// ends (finished, cancelled while queued, refused), gives the place back.
pub struct Ticket {
    admission: Arc<Admission>,
    queued_at: Instant,
    state: TicketState,
}

impl Ticket {
    /// Moves the call from the queue onto a worker; returns how long it
    /// waited.
    pub fn start(&mut self) -> Duration {
        if self.state == TicketState::Queued {
            self.admission.queued.fetch_sub(1, Ordering::SeqCst);
            self.admission.running.fetch_add(1, Ordering::SeqCst);
            self.state = TicketState::Running;
        }
        self.queued_at.elapsed()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let count = match self.state {
            TicketState::Queued => &self.admission.queued,
            TicketState::Running => &self.admission.running,
        };
        count.fetch_sub(1, Ordering::SeqCst);
        self.admission.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The per-stream cap on calls in flight.
pub struct StreamPermits(Arc<Semaphore>);

impl StreamPermits {
    /// At most `max_in_flight` calls of one stream in flight (at least one).
    pub fn new(max_in_flight: usize) -> Self {
        StreamPermits(Arc::new(Semaphore::new(max_in_flight.max(1))))
    }

    /// Waits for a free place; the permit is held until the call's answer
    /// is queued for sending.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        self.0
            .clone()
            .acquire_owned()
            .await
            .expect("the stream's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_calls_are_refused_and_places_come_back() {
        let admission = Admission::new(2);
        let mut first = admission.enter().unwrap();
        let _second = admission.enter().unwrap();
        let refused = admission.enter().err().unwrap();
        assert_eq!(refused.kind(), "overloaded");
        assert!(refused.to_string().contains("--max-queued 2"), "{refused}");
        assert_eq!((admission.queued(), admission.in_flight()), (2, 2));
        first.start();
        assert_eq!((admission.queued(), admission.running()), (1, 1));
        let _third = admission.enter().expect("a started call frees its place");
        drop(first);
        assert_eq!(admission.running(), 0);
        assert_eq!((admission.in_flight(), admission.peak_in_flight()), (2, 3));
    }

    #[test]
    fn a_call_that_outwaited_its_deadline_is_a_timeout() {
        let deadline = Duration::from_millis(100);
        assert!(Admission::check_wait(Duration::from_millis(100), deadline).is_ok());
        let late = Admission::check_wait(Duration::from_millis(150), deadline).unwrap_err();
        assert_eq!(late.kind(), "queue_timeout");
        assert!(late.to_string().contains("150 ms in the queue"), "{late}");
    }
}
