//! Which policy an idle worker should instantiate ahead: the one whose next
//! call is likely to come first, judged from the calls the workers started
//! most recently.
//!
//! A policy seen at least twice in the window has a mean gap between its
//! calls there and an age (calls since its last one); its next call is
//! expected in `gap - age` calls, and the policy expected soonest wins.
//! One policy in a loop is chosen again at once; policies
//! called in turn (a route's chain) are chosen in their turn; a hot tenant
//! among cold ones wins over them. A choice is held until that worker's
//! instance is used or dropped, and each instance another idle worker holds
//! for a policy counts as its next call already covered (its expected call
//! moves one gap later), so workers idle at the same time spread over the
//! policies likely next. A policy seen once tells nothing of when it comes
//! again: it is chosen only when nothing else is, and by one worker. No
//! worker makes an instance of a policy not expected within the window's
//! length of calls.
//!
//! The window holds weak references, so it keeps no policy in memory; a
//! policy dropped by the registry is never chosen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

/// Calls remembered, most recent last.
const WINDOW: usize = 64;

/// The recent calls of one worker pool, and what its idle workers hold.
/// `P` is the policy (a [`CompiledPolicy`](crate::sandbox::CompiledPolicy)
/// when serving).
pub struct LikelyNext<P> {
    inner: Mutex<Inner<P>>,
}

struct Inner<P> {
    window: VecDeque<Weak<P>>,
    /// Per worker, the policy its ready instance is for.
    held: Vec<Option<Weak<P>>>,
}

impl<P> Default for LikelyNext<P> {
    fn default() -> Self {
        LikelyNext {
            inner: Mutex::new(Inner {
                window: VecDeque::with_capacity(WINDOW),
                held: Vec::new(),
            }),
        }
    }
}

impl<P> LikelyNext<P> {
    /// Notes that `worker` started a call of `policy` (on an instance of its
    /// own or the one it held).
    pub fn started(&self, worker: usize, policy: &Arc<P>) {
        let mut inner = self.lock();
        if inner.window.len() == WINDOW {
            inner.window.pop_front();
        }
        inner.window.push_back(Arc::downgrade(policy));
        inner.hold(worker, None);
    }

    /// Notes that `worker` holds no ready instance any more.
    pub fn released(&self, worker: usize) {
        self.lock().hold(worker, None);
    }

    /// The policy `worker` should make an instance of, now held for it;
    /// `None` when no policy still loaded is expected soon enough.
    pub fn choose(&self, worker: usize) -> Option<Arc<P>> {
        let mut inner = self.lock();
        inner.hold(worker, None);
        let chosen = inner.soonest()?;
        inner.hold(worker, Some(Arc::downgrade(&chosen)));
        Some(chosen)
    }

    /// The workers holding a ready instance of `policy`.
    pub fn holders(&self, policy: &P) -> Vec<usize> {
        self.lock().holding(policy).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<P>> {
        // Every change under the lock is a single assignment or push.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One policy's record in the window.
struct Seen<'a, P> {
    policy: &'a Weak<P>,
    count: usize,
    /// Calls since its last, 0 for the most recent.
    age: usize,
    /// Calls since its first in the window.
    oldest: usize,
}

impl<P> Inner<P> {
    fn hold(&mut self, worker: usize, policy: Option<Weak<P>>) {
        if self.held.len() <= worker {
            self.held.resize_with(worker + 1, || None);
        }
        self.held[worker] = policy;
    }

    /// The workers whose ready instance is for `policy`.
    fn holding(&self, policy: *const P) -> impl Iterator<Item = usize> + '_ {
        let same = move |held: &Option<Weak<P>>| {
            (held.as_ref()).is_some_and(|held| std::ptr::eq(held.as_ptr(), policy))
        };
        let held = self.held.iter().enumerate();
        held.filter(move |(_, held)| same(held))
            .map(|(worker, _)| worker)
    }

    /// The live policy of the window whose next uncovered call is expected
    /// first (ties: the more frequent, then the one seen longer ago), if
    /// that call is expected within the window's length.
    fn soonest(&self) -> Option<Arc<P>> {
        let mut seen: Vec<Seen<P>> = Vec::new();
        for (age, policy) in self.window.iter().rev().enumerate() {
            match seen.iter_mut().find(|s| s.policy.ptr_eq(policy)) {
                Some(s) => {
                    s.count += 1;
                    s.oldest = age;
                }
                None => seen.push(Seen {
                    policy,
                    count: 1,
                    age,
                    oldest: age,
                }),
            }
        }
        let length = self.window.len() as f64;
        let due = |s: &Seen<P>| {
            let covered = self.holding(s.policy.as_ptr()).count() as f64;
            if s.count == 1 {
                return length * (1.0 + covered);
            }
            let gap = (s.oldest - s.age) as f64 / (s.count - 1) as f64;
            gap * (1.0 + covered) - s.age as f64
        };
        let mut ranked: Vec<(f64, &Seen<P>)> = seen.iter().map(|s| (due(s), s)).collect();
        ranked.sort_by(|(due_a, a), (due_b, b)| {
            (due_a.total_cmp(due_b))
                .then(b.count.cmp(&a.count))
                .then(b.age.cmp(&a.age))
        });
        (ranked.iter())
            .take_while(|(due, _)| *due <= length)
            .find_map(|(_, s)| s.policy.upgrade())
    }
}

#[cfg(test)]
mod tests;
