//! Byte strings assembled from runs of a larger buffer and a few small
//! bytes of their own, so that taking a component apart copies nothing.
//!
//! A policy component is tens of MB; [`super::split`] rearranges its
//! sections into a runtime and an image. Written out, both would copy the
//! whole component; as pieces they borrow it, and are hashed (for the
//! compiled-code cache key) or sampled in place. Only a cache miss, which
//! must compile, makes the bytes contiguous.

use std::borrow::Cow;

use sha2::Digest;

/// A byte string: borrowed runs and owned bytes, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces<'a> {
    parts: Vec<Cow<'a, [u8]>>,
    len: usize,
}

impl<'a> Pieces<'a> {
    /// Pieces that start with `bytes` (a header), owned.
    pub fn starting_with(bytes: &[u8]) -> Self {
        let mut pieces = Pieces::default();
        pieces.push_owned(bytes);
        pieces
    }

    /// All of `bytes`, borrowed.
    pub fn borrowing(bytes: &'a [u8]) -> Self {
        let mut pieces = Pieces::default();
        pieces.push_borrowed(bytes);
        pieces
    }

    /// Appends a copy of `bytes` (kept with the owned bytes before it).
    pub fn push_owned(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        if let Some(Cow::Owned(last)) = self.parts.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.parts.push(Cow::Owned(bytes.to_vec()));
        }
    }

    /// Appends `bytes` without copying them.
    pub fn push_borrowed(&mut self, bytes: &'a [u8]) {
        self.len += bytes.len();
        self.parts.push(Cow::Borrowed(bytes));
    }

    /// Appends all of `other`.
    pub fn append(&mut self, other: Pieces<'a>) {
        for part in other.parts {
            match part {
                Cow::Borrowed(bytes) => self.push_borrowed(bytes),
                Cow::Owned(bytes) => self.push_owned(&bytes),
            }
        }
    }

    /// How many bytes the string has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds the string to `hasher`, piece by piece.
    pub fn hash_into(&self, hasher: &mut impl Digest) {
        for part in &self.parts {
            hasher.update(part);
        }
    }

    /// The string as one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for part in &self.parts {
            out.extend_from_slice(part);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use sha2::Sha256;

    use super::*;

    #[test]
    fn pieces_read_as_the_bytes_they_were_made_of() {
        let buffer = b"0123456789".to_vec();
        let mut pieces = Pieces::starting_with(b"<");
        pieces.push_borrowed(&buffer[2..5]);
        pieces.push_owned(b"|");
        pieces.push_owned(b"|");
        let mut tail = Pieces::starting_with(b"[");
        tail.push_borrowed(&buffer[7..]);
        pieces.append(tail);
        assert_eq!(pieces.to_vec(), b"<234||[789");
        assert_eq!(pieces.len(), 10);
        assert_eq!(pieces.parts.len(), 4, "owned bytes in a row are one piece");
        let mut hasher = Sha256::new();
        pieces.hash_into(&mut hasher);
        assert_eq!(hasher.finalize(), Sha256::digest(b"<234||[789"));
    }
}
