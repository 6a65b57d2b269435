//! Latency percentiles and process resource counters.

use std::time::Duration;

/// Percentiles of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Percentiles of `samples` (sorted in place).
pub fn percentiles(samples: &mut [Duration]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1e6
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
    }
}

/// The median of `values` (sorted in place): the middle one, or the mean
/// of the two middle ones; `None` when there are none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        len if len % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

/// CPU time and page faults, from getrusage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU time, microseconds.
    pub cpu_us: f64,
    /// Minor + major page faults.
    pub faults: u64,
}

fn usage(who: libc::c_int) -> Usage {
    // SAFETY: getrusage writes one rusage struct into the zeroed value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    Usage {
        cpu_us: micros(usage.ru_utime) + micros(usage.ru_stime),
        faults: (usage.ru_minflt + usage.ru_majflt) as u64,
    }
}

/// The whole process's usage so far.
pub fn process_usage() -> Usage {
    usage(libc::RUSAGE_SELF)
}

/// Another process's usage so far, from `/proc/<pid>/stat` (zeros where
/// it cannot be read). CPU time has the kernel's tick resolution (10 ms).
pub fn usage_of(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the parenthesised command name, numbered from 3.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Usage {
        cpu_us: (field(14) + field(15)) as f64 * 1e6 / ticks_per_second,
        faults: field(10) + field(12),
    }
}

/// Another process's resident memory, bytes (0 where unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resident {
    /// Anonymous pages (heap, dirty guest pages kept by pool slots).
    pub anon: u64,
    /// File-backed pages (code and memory images mapped from the cache),
    /// counted once per mapping.
    pub file: u64,
    /// Proportional set size: each page divided among the mappings that
    /// share it, so a page mapped by many pool slots counts once.
    pub pss: u64,
}

/// `pid`'s resident memory, from `/proc/<pid>/status`.
pub fn resident_of(pid: u32) -> Resident {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let pss = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024);
    Resident {
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        pss,
    }
}

impl std::ops::Sub for Usage {
    type Output = Usage;

    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            cpu_us: self.cpu_us - earlier.cpu_us,
            faults: self.faults.saturating_sub(earlier.faults),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_ranks() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let p = percentiles(&mut samples);
        assert_eq!(p.p50, 51.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(percentiles(&mut []), Percentiles::default());
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_two() {
        assert_eq!(median(&mut [0.9, 0.5, 0.7]), Some(0.7));
        assert_eq!(median(&mut [0.8, 0.6, 0.9, 0.5]), Some(0.7));
        assert_eq!(median(&mut [0.4]), Some(0.4));
        assert_eq!(median(&mut []), None);
    }
}
