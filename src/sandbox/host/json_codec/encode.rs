//! Marshal data (as `marshal.dumps(value, 4)` writes it) to JSON text,
//! exactly as Python's `json.dumps(value, separators=…, ensure_ascii=…)`
//! would write it, or `None` where Python's own encoder must run: types
//! JSON has no form for (bytes, sets, …), keys it would refuse, and lone
//! surrogates without `ensure_ascii`.

use std::io::Write as _;

use super::MAX_DEPTH;
use super::float_repr::push_repr;
use super::marshal::{self, Reader};

/// How `json.dumps` was asked to write.
#[derive(Debug, Clone, Copy)]
pub struct Style<'a> {
    /// Between items: `", "` by default.
    pub item_separator: &'a str,
    /// Between a key and its value: `": "` by default.
    pub key_separator: &'a str,
    /// Escape every character outside ASCII.
    pub ensure_ascii: bool,
}

/// Text beyond this is left to Python: marshal's references let a small
/// input name one value many times (the hostcall copy cap, too).
const MAX_TEXT_BYTES: usize = crate::sandbox::state::MAX_HOSTCALL_BYTES;

/// The JSON text of the marshalled value, or `None`.
pub fn marshal_to_json(data: &[u8], style: Style<'_>) -> Option<String> {
    let mut writer = JsonWriter {
        input: Reader::new(data),
        out: Vec::with_capacity(data.len() + data.len() / 4 + 16),
        style,
        refs: Vec::new(),
        replaying: 0,
    };
    writer.next(0, false)?;
    // Every byte written is ASCII or a validated character's UTF-8: this
    // check never fails, and costs one pass over the text.
    writer.input.done().then_some(())?;
    String::from_utf8(writer.out).ok()
}

struct JsonWriter<'a> {
    input: Reader<'a>,
    out: Vec<u8>,
    style: Style<'a>,
    /// Where each flagged object starts in the input; `None` while it is
    /// being written (a reference to it then is a cycle).
    refs: Vec<Option<usize>>,
    /// Above zero while a referenced object is written again.
    replaying: u32,
}

impl<'a> JsonWriter<'a> {
    /// Writes the next object, as a key or a value. A reference writes its
    /// object again, as json writes a value it meets twice.
    fn next(&mut self, depth: usize, key: bool) -> Option<()> {
        if self.out.len() > MAX_TEXT_BYTES {
            return None;
        }
        let start = self.input.position();
        let byte = self.input.byte()?;
        let tag = byte & !marshal::FLAG_REF;
        if tag == marshal::REF {
            let index = self.input.u32()? as usize;
            let target = (*self.refs.get(index)?)?;
            let resume = self.input.position();
            self.input.seek(target);
            self.replaying += 1;
            let written = self.next(depth, key);
            self.replaying -= 1;
            self.input.seek(resume);
            return written;
        }
        let slot = (byte & marshal::FLAG_REF != 0 && self.replaying == 0).then(|| {
            self.refs.push(None);
            self.refs.len() - 1
        });
        if key {
            self.key(tag)?;
        } else {
            self.value(tag, depth)?;
        }
        if let Some(slot) = slot {
            self.refs[slot] = Some(start);
        }
        Some(())
    }

    fn value(&mut self, tag: u8, depth: usize) -> Option<()> {
        match tag {
            marshal::NONE => self.out.extend_from_slice(b"null"),
            marshal::TRUE => self.out.extend_from_slice(b"true"),
            marshal::FALSE => self.out.extend_from_slice(b"false"),
            marshal::INT => {
                let value = self.input.u32()? as i32;
                self.out
                    .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
            }
            marshal::LONG => {
                let value = self.input.long()?;
                self.out
                    .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
            }
            marshal::BINARY_FLOAT => {
                let value = self.input.float()?;
                self.float(value);
            }
            marshal::LIST | marshal::TUPLE => {
                let count = self.input.u32()?;
                self.array(count, depth + 1)?;
            }
            marshal::SMALL_TUPLE => {
                let count = self.input.byte()?;
                self.array(u32::from(count), depth + 1)?;
            }
            marshal::DICT => self.object(depth + 1)?,
            _ => {
                let text = self.string(tag)?;
                self.quoted(text)?;
            }
        }
        Some(())
    }

    /// `json.dumps`'s float form (`allow_nan` is on).
    fn float(&mut self, value: f64) {
        if value.is_nan() {
            self.out.extend_from_slice(b"NaN");
        } else if value.is_infinite() {
            let text = if value > 0.0 { "Infinity" } else { "-Infinity" };
            self.out.extend_from_slice(text.as_bytes());
        } else {
            let mut text = String::new();
            push_repr(&mut text, value);
            self.out.extend_from_slice(text.as_bytes());
        }
    }

    /// The UTF-8 (surrogatepass) bytes of a str, or `None` for any other type.
    fn string(&mut self, tag: u8) -> Option<&'a [u8]> {
        let len = match tag {
            marshal::SHORT_ASCII | marshal::SHORT_ASCII_INTERNED => usize::from(self.input.byte()?),
            marshal::UNICODE | marshal::INTERNED | marshal::ASCII | marshal::ASCII_INTERNED => {
                self.input.u32()? as usize
            }
            _ => return None,
        };
        self.input.bytes(len)
    }

    fn array(&mut self, count: u32, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.out.push(b'[');
        for index in 0..count {
            if index > 0 {
                self.out
                    .extend_from_slice(self.style.item_separator.as_bytes());
            }
            self.next(depth, false)?;
        }
        self.out.push(b']');
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.out.push(b'{');
        let mut first = true;
        loop {
            if self.input.peek()? == marshal::NULL {
                self.input.byte()?;
                break;
            }
            if !first {
                self.out
                    .extend_from_slice(self.style.item_separator.as_bytes());
            }
            first = false;
            self.next(depth, true)?;
            self.out
                .extend_from_slice(self.style.key_separator.as_bytes());
            self.next(depth, false)?;
        }
        self.out.push(b'}');
        Some(())
    }

    /// A key as `json.dumps` converts it: str as is; float, bool, None and
    /// int by their JSON spelling, in quotes.
    fn key(&mut self, tag: u8) -> Option<()> {
        let start = self.out.len();
        match tag {
            marshal::INT
            | marshal::LONG
            | marshal::BINARY_FLOAT
            | marshal::TRUE
            | marshal::FALSE
            | marshal::NONE => {
                self.value(tag, 0)?;
                let spelled = self.out.split_off(start);
                self.quoted(&spelled)
            }
            _ => {
                let text = self.string(tag)?;
                self.quoted(text)
            }
        }
    }

    /// Writes `text` (UTF-8, lone surrogates as surrogatepass bytes) as a
    /// JSON string with Python's escapes.
    fn quoted(&mut self, text: &[u8]) -> Option<()> {
        let style = self.style;
        push_quoted(&mut self.out, text, style.ensure_ascii)
    }
}

/// Bytes that end a run copied as is: what Python escapes (`"`, `\`,
/// controls; with `ensure_ascii` also DEL) and the first byte of every
/// character outside ASCII, which is decoded and checked on its own.
const fn stops(ensure_ascii: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] =
            byte < 0x20 || byte == b'"' as usize || byte == b'\\' as usize || byte >= 0x80;
        byte += 1;
    }
    table[0x7f] = ensure_ascii;
    table
}

const STOPS: [bool; 256] = stops(false);
const STOPS_ASCII: [bool; 256] = stops(true);

fn push_quoted(out: &mut Vec<u8>, text: &[u8], ensure_ascii: bool) -> Option<()> {
    let stops = if ensure_ascii { &STOPS_ASCII } else { &STOPS };
    out.push(b'"');
    let mut at = 0;
    while at < text.len() {
        let plain = text[at..]
            .iter()
            .position(|&b| stops[usize::from(b)])
            .unwrap_or(text.len() - at);
        // The run is ASCII: copied as is.
        out.extend_from_slice(&text[at..at + plain]);
        at += plain;
        if at == text.len() {
            break;
        }
        let (code, len) = decode_wtf8(&text[at..])?;
        at += len;
        push_escape(out, code, ensure_ascii)?;
    }
    out.push(b'"');
    Some(())
}

/// Python's escape of one character that its encoder does not copy as is.
fn push_escape(out: &mut Vec<u8>, code: u32, ensure_ascii: bool) -> Option<()> {
    match code {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0..=0x1f => write!(out, "\\u{code:04x}").ok()?,
        _ if !ensure_ascii => {
            let c = char::from_u32(code)?;
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        0x10000.. => {
            let offset = code - 0x10000;
            let high = 0xd800 | (offset >> 10);
            let low = 0xdc00 | (offset & 0x3ff);
            write!(out, "\\u{high:04x}\\u{low:04x}").ok()?;
        }
        _ => write!(out, "\\u{code:04x}").ok()?,
    }
    Some(())
}

/// One code point from UTF-8 that may hold surrogatepass bytes.
fn decode_wtf8(bytes: &[u8]) -> Option<(u32, usize)> {
    let first = *bytes.first()?;
    let (len, initial) = match first {
        0x00..=0x7f => return Some((u32::from(first), 1)),
        0xc2..=0xdf => (2, u32::from(first & 0x1f)),
        0xe0..=0xef => (3, u32::from(first & 0x0f)),
        0xf0..=0xf4 => (4, u32::from(first & 0x07)),
        _ => return None,
    };
    let mut code = initial;
    for &byte in bytes.get(1..len)? {
        if byte & 0xc0 != 0x80 {
            return None;
        }
        code = (code << 6) | u32::from(byte & 0x3f);
    }
    // The shortest form only, up to U+10FFFF, as marshal writes a str.
    let shortest = match len {
        3 => code >= 0x800,
        _ => (0x10000..=0x10ffff).contains(&code),
    };
    (len == 2 || shortest).then_some((code, len))
}
