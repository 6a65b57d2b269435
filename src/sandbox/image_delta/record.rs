//! The record of what an image stored as a delta shares with its base,
//! and the cache keys of deltas and base marks.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// What an image stored as a delta shares with its base, kept in the cache
/// under the image's whole-artifact key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaRecord {
    /// The base image's compiled-artifact key.
    pub base_key: String,
    /// The delta artifact's key.
    pub delta_key: String,
    /// Linear-memory byte ranges mapped from the base: holes in the delta.
    pub runs: Vec<Range<usize>>,
    /// Every range identical to the base's (resets read these from it).
    pub identical: Vec<Range<usize>>,
}

/// The first line of every record (its format's version).
const HEADER: &str = "policy-host image delta 1";

impl DeltaRecord {
    /// The record as text.
    pub fn encode(&self) -> String {
        format!(
            "{HEADER}\nbase {}\ndelta {}\nruns {}\nidentical {}\n",
            self.base_key,
            self.delta_key,
            encode_ranges(&self.runs),
            encode_ranges(&self.identical)
        )
    }

    /// A record from [`Self::encode`]'s text; `None` for anything else.
    pub fn parse(text: &str) -> Option<DeltaRecord> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return None;
        }
        let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
        let base_key = field("base")?.to_owned();
        let delta_key = field("delta")?.to_owned();
        let runs = parse_ranges(field("runs")?)?;
        let identical = parse_ranges(field("identical")?)?;
        let plain = |key: &str| !key.is_empty() && !key.contains(char::is_whitespace);
        (plain(&base_key) && plain(&delta_key)).then_some(DeltaRecord {
            base_key,
            delta_key,
            runs,
            identical,
        })
    }
}

fn encode_ranges(ranges: &[Range<usize>]) -> String {
    let texts: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end))
        .collect();
    texts.join(" ")
}

fn parse_ranges(text: &str) -> Option<Vec<Range<usize>>> {
    text.split_whitespace()
        .map(|range| {
            let (start, end) = range.split_once('-')?;
            Some(start.parse().ok()?..end.parse().ok()?)
        })
        .collect()
}

/// The cache key of the record marking `image_key` as a base.
pub(super) fn base_mark(image_key: &str) -> String {
    format!("{image_key}-base")
}

/// The key of `image_key`'s delta with holes under `runs`: content-addressed,
/// so that a record never names a delta with other holes than its own.
pub(super) fn delta_key(image_key: &str, runs: &[Range<usize>]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(image_key.as_bytes());
    hasher.update(encode_ranges(runs).as_bytes());
    let hash: String = hasher.finalize()[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let engine = image_key.split_once('-').map_or("", |(_, engine)| engine);
    format!("{hash}-delta-{engine}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: [Range<usize>; 2] = [4096..8192, 16384..20480];

    fn record() -> DeltaRecord {
        DeltaRecord {
            base_key: "abc-wasmtime-48".into(),
            delta_key: delta_key("def-wasmtime-48", &RUNS),
            runs: RUNS.to_vec(),
            identical: vec![0..8192, 12288..20480],
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let record = record();
        assert_eq!(DeltaRecord::parse(&record.encode()), Some(record));
    }

    #[test]
    fn anything_but_a_whole_record_is_refused() {
        let text = record().encode();
        for bad in [
            text.replace("delta 1", "delta 2"),
            text.replace("runs 4096-8192", "runs 4096_8192"),
            text.replace("base abc-wasmtime-48", "base "),
            text.lines().take(4).collect::<Vec<_>>().join("\n"),
            String::new(),
        ] {
            assert_eq!(DeltaRecord::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_delta_key_names_its_image_runs_and_engine() {
        let key = delta_key("def-wasmtime-48", &RUNS);
        assert!(key.ends_with("-delta-wasmtime-48"), "{key}");
        assert_ne!(key, delta_key("def-wasmtime-48", &RUNS[..1]));
        assert_ne!(key, delta_key("deg-wasmtime-48", &RUNS));
    }
}
