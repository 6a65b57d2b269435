//! What a thread wake-up costs on this machine: two threads pass a turn back
//! and forth, each sleeping (futex, through `thread::park`) or spinning until
//! its turn comes, optionally after a busy gap that lets the other core go
//! idle. Prints the round trip's mean, p50 and p99.
//!
//! ```text
//! cargo run --release --example wake_pingpong -- [park|spin] [gap µs] [rounds]
//! taskset -c 0 target/release/examples/wake_pingpong park 150   # one core
//! ```
//!
//! BENCHMARKS.md ("Wake-ups on this VM") explains why this matters for one
//! call in flight: every hand-off between threads on different cores pays
//! one such wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// A turn counter one thread waits on while the other advances it.
struct Turn {
    value: AtomicU64,
}

impl Turn {
    fn wait_for(&self, wanted: u64, spin: bool) {
        while self.value.load(Ordering::Acquire) != wanted {
            if spin {
                std::hint::spin_loop();
            } else {
                thread::park();
            }
        }
    }

    fn pass(&self, to: u64, waiter: &Thread) {
        self.value.store(to, Ordering::Release);
        waiter.unpark();
    }
}

fn busy_for(gap: Duration) {
    let until = Instant::now() + gap;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spin = args.first().is_some_and(|mode| mode == "spin");
    let gap = Duration::from_micros(args.get(1).and_then(|g| g.parse().ok()).unwrap_or(0));
    let rounds: u64 = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20_000);

    let (ping, pong) = (
        Arc::new(Turn {
            value: AtomicU64::new(0),
        }),
        Arc::new(Turn {
            value: AtomicU64::new(0),
        }),
    );
    let main_thread = thread::current();
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        thread::spawn(move || {
            for round in 1..=rounds {
                ping.wait_for(round, spin);
                pong.pass(round, &main_thread);
            }
        })
    };
    let echo_thread = echo.thread().clone();
    let mut trips = Vec::with_capacity(rounds as usize);
    for round in 1..=rounds {
        let start = Instant::now();
        ping.pass(round, &echo_thread);
        pong.wait_for(round, spin);
        trips.push(start.elapsed());
        busy_for(gap);
    }
    echo.join().expect("the echo thread");

    trips.sort();
    let mean = trips.iter().sum::<Duration>() / rounds as u32;
    let at = |fraction: f64| trips[((trips.len() - 1) as f64 * fraction) as usize];
    println!(
        "{} with a {} µs gap: round trip mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs ({rounds} rounds)",
        if spin { "spin" } else { "park" },
        gap.as_micros(),
        mean.as_secs_f64() * 1e6,
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
    );
}
