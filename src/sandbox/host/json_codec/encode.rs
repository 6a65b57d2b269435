//! Marshal data (as `marshal.dumps(value, 4)` writes it) to JSON text,
//! exactly as Python's `json.dumps(value, separators=…, ensure_ascii=…)`
//! would write it, or `None` where Python's own encoder must run: types
//! JSON has no form for (bytes, sets, …), keys it would refuse, and lone
//! surrogates without `ensure_ascii`.

use std::fmt::Write as _;

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
        out: String::with_capacity(data.len() + data.len() / 4 + 16),
        style,
        refs: Vec::new(),
        replaying: 0,
    };
    writer.next(0, false)?;
    writer.input.done().then_some(writer.out)
}

struct JsonWriter<'a> {
    input: Reader<'a>,
    out: String,
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
            marshal::NONE => self.out.push_str("null"),
            marshal::TRUE => self.out.push_str("true"),
            marshal::FALSE => self.out.push_str("false"),
            marshal::INT => {
                let value = self.input.u32()? as i32;
                write!(self.out, "{value}").ok()?;
            }
            marshal::LONG => {
                let value = self.input.long()?;
                write!(self.out, "{value}").ok()?;
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
            self.out.push_str("NaN");
        } else if value.is_infinite() {
            self.out
                .push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            push_repr(&mut self.out, value);
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
        self.out.push('[');
        for index in 0..count {
            if index > 0 {
                self.out.push_str(self.style.item_separator);
            }
            self.next(depth, false)?;
        }
        self.out.push(']');
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.out.push('{');
        let mut first = true;
        loop {
            if self.input.peek()? == marshal::NULL {
                self.input.byte()?;
                break;
            }
            if !first {
                self.out.push_str(self.style.item_separator);
            }
            first = false;
            self.next(depth, true)?;
            self.out.push_str(self.style.key_separator);
            self.next(depth, false)?;
        }
        self.out.push('}');
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
                self.quoted(spelled.as_bytes())
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

fn push_quoted(out: &mut String, text: &[u8], ensure_ascii: bool) -> Option<()> {
    out.push('"');
    let mut at = 0;
    while at < text.len() {
        let plain = text[at..]
            .iter()
            .position(|&b| b < 0x20 || b == b'"' || b == b'\\' || (ensure_ascii && b >= 0x7f))
            .unwrap_or(text.len() - at);
        // The run is ASCII, or UTF-8 checked below before it is kept.
        let run = &text[at..at + plain];
        out.push_str(std::str::from_utf8(run).ok()?);
        at += plain;
        if at == text.len() {
            break;
        }
        let (code, len) = decode_wtf8(&text[at..])?;
        at += len;
        push_escape(out, code, ensure_ascii)?;
    }
    out.push('"');
    Some(())
}

/// Python's escape of one character that its encoder does not copy as is.
fn push_escape(out: &mut String, code: u32, ensure_ascii: bool) -> Option<()> {
    match code {
        0x22 => out.push_str("\\\""),
        0x5c => out.push_str("\\\\"),
        0x0a => out.push_str("\\n"),
        0x0d => out.push_str("\\r"),
        0x09 => out.push_str("\\t"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        0..=0x1f => write!(out, "\\u{code:04x}").ok()?,
        _ if !ensure_ascii => out.push(char::from_u32(code)?),
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
    Some((code, len))
}
