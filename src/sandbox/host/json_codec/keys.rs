//! The keys of one document being decoded, each with the marshal
//! reference index its first occurrence got.

use std::collections::HashMap;
use std::ops::Range;

/// How many slots [`Keys`] keeps in front of its map.
const RECENT_KEYS: usize = 64;

/// Each distinct key's marshal reference index. A document repeats a few
/// keys many times, so a small table of exact keys, indexed by their
/// length and ends, answers most lookups before the map's SipHash (kept
/// for the rest: keys are the sender's to choose).
pub struct Keys {
    map: HashMap<Vec<u8>, u32>,
    by_index: Vec<Range<usize>>,
    bytes: Vec<u8>,
    recent: [u32; RECENT_KEYS],
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            map: HashMap::new(),
            by_index: Vec::new(),
            bytes: Vec::new(),
            recent: [u32::MAX; RECENT_KEYS],
        }
    }
}

impl Keys {
    /// The recent-keys slot of `key`: from its length and first and last bytes.
    fn slot(key: &[u8]) -> usize {
        let (first, last) = (key.first().copied(), key.last().copied());
        let mix =
            key.len() * 7 + usize::from(first.unwrap_or(0)) * 31 + usize::from(last.unwrap_or(0));
        mix % RECENT_KEYS
    }

    /// The key's index, if it was seen.
    pub fn get(&mut self, key: &[u8]) -> Option<u32> {
        let slot = Self::slot(key);
        let recent = self.recent[slot];
        if let Some(range) = self.by_index.get(recent as usize)
            && &self.bytes[range.clone()] == key
        {
            return Some(recent);
        }
        let index = *self.map.get(key)?;
        self.recent[slot] = index;
        Some(index)
    }

    /// Gives a key not seen before the next index, and returns it.
    pub fn insert(&mut self, key: &[u8]) -> u32 {
        let index = self.by_index.len() as u32;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.by_index.push(start..self.bytes.len());
        self.map.insert(key.to_vec(), index);
        self.recent[Self::slot(key)] = index;
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_keeps_its_index_however_the_recent_slots_collide() {
        let mut keys = Keys::default();
        let names: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        for (index, name) in names.iter().enumerate() {
            assert_eq!(keys.get(name.as_bytes()), None);
            assert_eq!(keys.insert(name.as_bytes()), index as u32);
        }
        for round in 0..2 {
            for (index, name) in names.iter().enumerate().rev() {
                assert_eq!(
                    keys.get(name.as_bytes()),
                    Some(index as u32),
                    "round {round}"
                );
            }
        }
        assert_eq!(keys.get(b""), None);
        assert_eq!(keys.insert(b""), 500);
        assert_eq!(keys.get(b""), Some(500));
    }
}
