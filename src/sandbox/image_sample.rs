//! A cheap fingerprint of a policy image's pages, to choose which loaded
//! image a new one shares pages with; patch 0008 then compares the chosen
//! pair exactly.
//!
//! Snapshots built on one host match page for page up to what each
//! policy's import changed (`build::entropy`), so copies and versions of
//! one policy share nearly all pages and different policies a quarter to a
//! half. Hashing every 16th page of the image (~300 pages, ~1 ms) tells
//! which of a few base images is the closest.

#![cfg_attr(not(feature = "patched-wasmtime"), allow(dead_code))]

use std::hash::{DefaultHasher, Hasher};

use wasmparser::{BinaryReader, DataKind, DataSectionReader, Operator};

/// Host pages, as Wasmtime maps images.
const PAGE: usize = 4096;
/// Every how many pages one is sampled.
const STRIDE: usize = 16;

/// Hashes of every [`STRIDE`]-th page of an image, by page index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSample {
    hashes: Vec<u64>,
}

impl PageSample {
    /// The sample of the image a data section's contents (active
    /// segments at constant offsets: `split`'s image) put in memory;
    /// `None` when the section does not parse as that.
    pub fn of_data_section(contents: &[u8]) -> Option<PageSample> {
        let segments = active_segments(contents)?;
        let end = segments.iter().map(|(at, bytes)| at + bytes.len()).max()?;
        let sampled = end.div_ceil(PAGE).div_ceil(STRIDE);
        let mut pages = vec![0u8; sampled * PAGE];
        for (at, bytes) in &segments {
            copy_sampled(&mut pages, *at, bytes);
        }
        let hashes = pages
            .chunks(PAGE)
            .map(|page| {
                let mut hasher = DefaultHasher::new();
                hasher.write(page);
                hasher.finish()
            })
            .collect();
        Some(PageSample { hashes })
    }

    /// How many sampled pages there are.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// How many sampled pages hold the same bytes in both images.
    pub fn matches(&self, other: &PageSample) -> usize {
        let same = self.hashes.iter().zip(&other.hashes);
        same.filter(|(a, b)| a == b).count()
    }
}

/// Copies the parts of `bytes` (at address `at`) that fall in sampled
/// pages into `pages` (sampled page `k` is page `k * STRIDE`).
fn copy_sampled(pages: &mut [u8], at: usize, bytes: &[u8]) {
    let end = at + bytes.len();
    // The first sampled page that ends after `at`.
    let mut page = (at / PAGE).div_ceil(STRIDE) * STRIDE;
    while page * PAGE < end {
        let (from, to) = ((page * PAGE).max(at), ((page + 1) * PAGE).min(end));
        let slot = (page / STRIDE) * PAGE + (from - page * PAGE);
        pages[slot..slot + (to - from)].copy_from_slice(&bytes[from - at..to - at]);
        page += STRIDE;
    }
}

/// A data section's active segments as `(address, bytes)`.
fn active_segments(contents: &[u8]) -> Option<Vec<(usize, &[u8])>> {
    let reader = DataSectionReader::new(BinaryReader::new(contents, 0)).ok()?;
    let mut segments = Vec::new();
    for data in reader {
        let data = data.ok()?;
        let DataKind::Active { offset_expr, .. } = data.kind else {
            return None;
        };
        let Operator::I32Const { value } = offset_expr.get_operators_reader().read().ok()? else {
            return None;
        };
        segments.push((usize::try_from(value as u32).ok()?, data.data));
    }
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    use wasmparser::{Parser, Payload};

    /// The sample of a module's data section.
    fn sample(module: &[u8]) -> PageSample {
        let data = Parser::new(0)
            .parse_all(module)
            .find_map(|payload| match payload {
                Ok(Payload::DataSection(reader)) => Some(reader.range()),
                _ => None,
            });
        PageSample::of_data_section(&module[data.unwrap()]).unwrap()
    }

    /// An image module with `segments` as active data at their addresses.
    fn image_module(segments: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut text = String::from("(module (memory 64)");
        for (at, bytes) in segments {
            text.push_str(&format!(" (data (i32.const {at}) \""));
            for byte in bytes {
                text.push_str(&format!("\\{byte:02x}"));
            }
            text.push('"');
            text.push(')');
        }
        text.push(')');
        wat::parse_str(&text).unwrap()
    }

    #[test]
    fn the_same_bytes_at_the_same_pages_match_and_others_do_not() {
        let page = |fill: u8| vec![fill; PAGE];
        let base: Vec<(u32, Vec<u8>)> = (0..64u32)
            .map(|p| (p * PAGE as u32, page(p as u8 + 1)))
            .collect();
        let first = sample(&image_module(&base));
        assert_eq!(first.len(), 4, "pages 0, 16, 32 and 48");
        assert_eq!(first.matches(&first), 4);
        let mut changed = base.clone();
        changed[16].1[100] ^= 1;
        let other = sample(&image_module(&changed));
        assert_eq!(first.matches(&other), 3, "page 16 differs");
        changed[17].1[0] ^= 1;
        let unsampled = sample(&image_module(&changed));
        assert_eq!(other.matches(&unsampled), 4, "page 17 is not sampled");
    }

    #[test]
    fn segments_across_page_boundaries_land_in_their_pages() {
        let whole: Vec<u8> = (0..40 * PAGE).map(|i| (i % 251) as u8).collect();
        let one = sample(&image_module(&[(0, whole.clone())]));
        let pieces: Vec<(u32, Vec<u8>)> = whole
            .chunks(1000)
            .enumerate()
            .map(|(i, chunk)| ((i * 1000) as u32, chunk.to_vec()))
            .collect();
        let split = sample(&image_module(&pieces));
        assert_eq!(one, split);
    }
}
