//! The subset of CPython's marshal format that JSON values need: type
//! codes, a writer (format version 4, as `marshal.loads` reads any
//! version) and a reader of what `marshal.dumps(value, 4)` writes.

/// End of a dict's items.
pub const NULL: u8 = b'0';
/// `None`.
pub const NONE: u8 = b'N';
/// `False`.
pub const FALSE: u8 = b'F';
/// `True`.
pub const TRUE: u8 = b'T';
/// A 32-bit int.
pub const INT: u8 = b'i';
/// An int in 15-bit digits.
pub const LONG: u8 = b'l';
/// A float as 8 little-endian bytes.
pub const BINARY_FLOAT: u8 = b'g';
/// A str as UTF-8 (surrogatepass).
pub const UNICODE: u8 = b'u';
/// An interned str as UTF-8.
pub const INTERNED: u8 = b't';
/// An ASCII str, 32-bit length.
pub const ASCII: u8 = b'a';
/// An interned ASCII str.
pub const ASCII_INTERNED: u8 = b'A';
/// An ASCII str, 8-bit length.
pub const SHORT_ASCII: u8 = b'z';
/// An interned short ASCII str.
pub const SHORT_ASCII_INTERNED: u8 = b'Z';
/// A list.
pub const LIST: u8 = b'[';
/// A tuple (JSON writes it as a list).
pub const TUPLE: u8 = b'(';
/// A tuple of at most 255 items (8-bit length).
pub const SMALL_TUPLE: u8 = b')';
/// A dict: key, value, …, [`NULL`].
pub const DICT: u8 = b'{';
/// A reference to an earlier flagged object.
pub const REF: u8 = b'r';
/// Set on a type code: remember this object for later references.
pub const FLAG_REF: u8 = 0x80;

/// Digits of a marshal long are 15 bits wide.
const LONG_SHIFT: u32 = 15;

/// Appends marshal data.
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            out: Vec::with_capacity(capacity),
        }
    }

    /// The data written.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// A one-byte value (`None`, `True`, `False`) or a dict's start or end.
    pub fn tag(&mut self, tag: u8) {
        self.out.push(tag);
    }

    fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// A float.
    pub fn float(&mut self, value: f64) {
        self.out.push(BINARY_FLOAT);
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// An int of at most 64 bits of magnitude.
    pub fn int(&mut self, value: i128) {
        if let Ok(small) = i32::try_from(value) {
            self.out.push(INT);
            self.out.extend_from_slice(&small.to_le_bytes());
            return;
        }
        let mut magnitude = value.unsigned_abs();
        let mut digits = Vec::with_capacity(5);
        while magnitude > 0 {
            digits.push((magnitude & ((1 << LONG_SHIFT) - 1)) as u16);
            magnitude >>= LONG_SHIFT;
        }
        let count = digits.len() as i32;
        self.out.push(LONG);
        let signed = if value < 0 { -count } else { count };
        self.out.extend_from_slice(&signed.to_le_bytes());
        for digit in digits {
            self.out.extend_from_slice(&digit.to_le_bytes());
        }
    }

    /// A str from its UTF-8 (or surrogatepass) bytes.
    pub fn string(&mut self, text: &[u8]) {
        self.string_tagged(text, 0);
    }

    /// A str that later [`Writer::reference`]s may name.
    pub fn string_flagged(&mut self, text: &[u8]) {
        self.string_tagged(text, FLAG_REF);
    }

    fn string_tagged(&mut self, text: &[u8], flag: u8) {
        if text.is_ascii() && text.len() <= usize::from(u8::MAX) {
            self.out.push(SHORT_ASCII | flag);
            self.out.push(text.len() as u8);
        } else {
            self.out
                .push(if text.is_ascii() { ASCII } else { UNICODE } | flag);
            self.u32(text.len() as u32);
        }
        self.out.extend_from_slice(text);
    }

    /// The `index`th flagged object again.
    pub fn reference(&mut self, index: u32) {
        self.out.push(REF);
        self.u32(index);
    }

    /// Starts a list whose length [`Writer::list_end`] fills in.
    pub fn list_start(&mut self) -> usize {
        self.out.push(LIST);
        self.u32(0);
        self.out.len() - 4
    }

    /// Writes the length of the list started at `at`.
    pub fn list_end(&mut self, at: usize, count: u32) {
        self.out[at..at + 4].copy_from_slice(&count.to_le_bytes());
    }
}

/// Appends the code point as UTF-8, or a lone surrogate as the three bytes
/// Python's surrogatepass error handler uses.
pub fn push_wtf8(out: &mut Vec<u8>, code: u32) {
    match char::from_u32(code) {
        Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        None => out.extend_from_slice(&[
            0xe0 | (code >> 12) as u8,
            0x80 | ((code >> 6) & 0x3f) as u8,
            0x80 | (code & 0x3f) as u8,
        ]),
    }
}

/// Reads marshal data.
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    /// Where the next byte is read from.
    pub fn position(&self) -> usize {
        self.at
    }

    /// Reads on from `at` (a position this reader reported).
    pub fn seek(&mut self, at: usize) {
        self.at = at;
    }

    /// The next byte, left unread.
    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    /// Whether every byte was read.
    pub fn done(&self) -> bool {
        self.at == self.data.len()
    }

    /// The next byte.
    pub fn byte(&mut self) -> Option<u8> {
        let byte = *self.data.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    /// A little-endian 32-bit value.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    /// A long's value, if its magnitude fits in 120 bits.
    pub fn long(&mut self) -> Option<i128> {
        let count = self.u32()? as i32;
        let digits = count.unsigned_abs() as usize;
        if digits > 8 {
            return None;
        }
        let mut magnitude: u128 = 0;
        for index in 0..digits {
            let digit = u16::from_le_bytes(self.bytes(2)?.try_into().ok()?);
            magnitude |= u128::from(digit) << (LONG_SHIFT * index as u32);
        }
        let value = magnitude as i128;
        Some(if count < 0 { -value } else { value })
    }

    /// A float's 8 bytes.
    pub fn float(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}
