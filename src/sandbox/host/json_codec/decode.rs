//! JSON text to CPython marshal data, exactly as Python's `json.loads`
//! would build the value, or `None` where Python's own decoder must run
//! (invalid JSON, numbers Python reads differently, very deep nesting).
//!
//! Object keys are written once and then referenced (marshal's `FLAG_REF`
//! and `r`), as Python's decoder shares one string object per distinct key.

use std::ops::Range;

use super::MAX_DEPTH;
use super::keys::Keys;
use super::marshal::{self, Writer};

/// The marshal data of the JSON document `text`, or `None`.
pub fn json_to_marshal(text: &[u8]) -> Option<Vec<u8>> {
    // Python decodes bytes as UTF-8 (or UTF-16/32 by their NULs, which are
    // never valid here); anything else is its decoder's to reject.
    std::str::from_utf8(text).ok()?;
    let mut parser = Parser {
        text,
        at: 0,
        out: Writer::with_capacity(text.len() + text.len() / 2 + 16),
        keys: Keys::default(),
        scratch: Vec::new(),
    };
    parser.whitespace();
    parser.value(0)?;
    parser.whitespace();
    (parser.at == text.len()).then(|| parser.out.finish())
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    out: Writer,
    keys: Keys,
    /// A string with escapes, decoded.
    scratch: Vec<u8>,
}

/// Where a decoded string's bytes are.
enum Decoded {
    /// In the text as they are (no escapes).
    Text(Range<usize>),
    /// In `scratch`.
    Scratch,
}

impl Decoded {
    /// The decoded bytes, from the text or the scratch buffer.
    fn bytes<'b>(&self, text: &'b [u8], scratch: &'b [u8]) -> &'b [u8] {
        match self {
            Decoded::Text(range) => &text[range.clone()],
            Decoded::Scratch => scratch,
        }
    }
}

/// Bytes that end a run of a string copied as is: `"`, `\` and controls.
const STRING_STOPS: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = byte < 0x20 || byte == b'"' as usize || byte == b'\\' as usize;
        byte += 1;
    }
    table
};

/// Integers of at most this many digits fit an `i64`, and are read here.
const MAX_FAST_DIGITS: usize = 18;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| self.at = end)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let decoded = self.string()?;
                let text = self.text;
                self.out.string(decoded.bytes(text, &self.scratch));
                Some(())
            }
            b't' => self.literal(b"true").map(|()| self.out.tag(marshal::TRUE)),
            b'f' => self
                .literal(b"false")
                .map(|()| self.out.tag(marshal::FALSE)),
            b'n' => self.literal(b"null").map(|()| self.out.tag(marshal::NONE)),
            b'N' => self.literal(b"NaN").map(|()| self.out.float(f64::NAN)),
            b'I' => self
                .literal(b"Infinity")
                .map(|()| self.out.float(f64::INFINITY)),
            b'-' if self.text[self.at..].starts_with(b"-Infinity") => {
                self.at += b"-Infinity".len();
                self.out.float(f64::NEG_INFINITY);
                Some(())
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.out.tag(marshal::DICT);
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            self.out.tag(marshal::NULL);
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let decoded = self.string()?;
            self.key(decoded);
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.whitespace();
            self.value(depth)?;
            if self.item_end(b'}')? {
                self.out.tag(marshal::NULL);
                return Some(());
            }
        }
    }

    /// After an item: `,` (more follow, `false`) or `close` (`true`).
    fn item_end(&mut self, close: u8) -> Option<bool> {
        self.whitespace();
        let byte = self.peek()?;
        self.at += 1;
        self.whitespace();
        match byte {
            b',' => Some(false),
            _ if byte == close => Some(true),
            _ => None,
        }
    }

    /// Writes a decoded key: a reference when seen before.
    fn key(&mut self, decoded: Decoded) {
        let text = self.text;
        let key = decoded.bytes(text, &self.scratch);
        if let Some(index) = self.keys.get(key) {
            self.out.reference(index);
            return;
        }
        self.keys.insert(key);
        self.out.string_flagged(key);
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let count_at = self.out.list_start();
        let mut count = 0u32;
        self.whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            self.out.list_end(count_at, count);
            return Some(());
        }
        loop {
            self.value(depth)?;
            count += 1;
            if self.item_end(b']')? {
                self.out.list_end(count_at, count);
                return Some(());
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    /// Python's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.text[int_start] == b'0') {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if !float && int_digits <= MAX_FAST_DIGITS {
            let magnitude = (self.text[int_start..self.at].iter())
                .fold(0i64, |value, digit| value * 10 + i64::from(digit - b'0'));
            let negative = int_start > start;
            self.out
                .int(i128::from(if negative { -magnitude } else { magnitude }));
            return Some(());
        }
        let text = std::str::from_utf8(&self.text[start..self.at]).ok()?;
        if float {
            self.out.float(text.parse().ok()?);
        } else {
            // Beyond 64 bits Python's int (and its digit limit) decides.
            self.out.int(
                text.parse::<i128>()
                    .ok()
                    .filter(|v| v.unsigned_abs() <= u64::MAX as u128)?,
            );
        }
        Some(())
    }

    /// Reads the string at `at`: its bytes as they are in the text, or
    /// with escapes decoded into `scratch` (UTF-8, lone surrogates as
    /// marshal's surrogatepass bytes).
    fn string(&mut self) -> Option<Decoded> {
        self.at += 1;
        let start = self.at;
        self.at += self.plain_run()?;
        if self.text[self.at] == b'"' {
            self.at += 1;
            return Some(Decoded::Text(start..self.at - 1));
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.text[start..self.at]);
        loop {
            match self.text[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(Decoded::Scratch);
                }
                b'\\' => self.escape()?,
                _ => return None, // a raw control character: strict mode refuses it
            }
            let run = self.plain_run()?;
            self.scratch
                .extend_from_slice(&self.text[self.at..self.at + run]);
            self.at += run;
        }
    }

    /// How many bytes from `at` a string holds as they are; `None` when
    /// the text ends first.
    fn plain_run(&self) -> Option<usize> {
        (self.text[self.at..].iter()).position(|&b| STRING_STOPS[usize::from(b)])
    }

    fn escape(&mut self) -> Option<()> {
        let byte = *self.text.get(self.at + 1)?;
        self.at += 2;
        let simple = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(),
            _ => return None,
        };
        self.scratch.push(simple);
        Some(())
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = std::str::from_utf8(self.text.get(at..at + 4)?).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }

    /// `\uXXXX`, combining a high and a low surrogate escape into one
    /// character as Python does, and keeping lone surrogates.
    fn unicode_escape(&mut self) -> Option<()> {
        let mut code = self.hex4(self.at)?;
        self.at += 4;
        if (0xd800..0xdc00).contains(&code) && self.text[self.at..].starts_with(b"\\u") {
            let low = self.hex4(self.at + 2)?;
            if (0xdc00..0xe000).contains(&low) {
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                self.at += 6;
            }
        }
        marshal::push_wtf8(&mut self.scratch, code);
        Some(())
    }
}
