//! The codec on its own: JSON in, marshal out, and back, on the shared
//! fixtures (`tests/fixtures/json_codec.json`, which the guest test also
//! reads to compare the codec with Python's own `json` inside the sandbox).

use super::*;

const FIXTURES: &str = include_str!("../../../../tests/fixtures/json_codec.json");

fn compact_ascii(data: &[u8]) -> Option<String> {
    let style = Style {
        item_separator: ",",
        key_separator: ":",
        ensure_ascii: true,
    };
    marshal_to_json(data, style)
}

/// Our decoder's output (short ASCII strings, key references) read back
/// by the encoder, which understands both.
fn round_trip(text: &str) -> Option<String> {
    compact_ascii(&json_to_marshal(text.as_bytes())?)
}

fn fixtures() -> Vec<serde_json::Value> {
    let all: serde_json::Value = serde_json::from_str(FIXTURES).unwrap();
    all["decode"].as_array().unwrap().clone()
}

#[test]
fn fixtures_the_host_decodes_round_trip_to_python_s_compact_text() {
    for case in fixtures() {
        let text = case["text"].as_str().unwrap();
        if case.get("duplicate_keys").is_some() {
            // marshal.loads keeps the last value of a repeated key (as
            // json.loads does): the guest test checks that one.
            assert!(json_to_marshal(text.as_bytes()).is_some());
        } else if case["host"].as_bool().unwrap() {
            let expected = case["python"].as_str();
            assert_eq!(round_trip(text).as_deref(), expected, "{text:?}");
        } else {
            assert_eq!(
                json_to_marshal(text.as_bytes()),
                None,
                "{text:?} is Python's to decode"
            );
        }
    }
}

#[test]
fn keys_repeated_in_a_document_are_written_once() {
    let packed = json_to_marshal(br#"[{"name":1},{"name":2},{"name":3}]"#).unwrap();
    let occurrences = packed.windows(4).filter(|w| w == b"name").count();
    assert_eq!(occurrences, 1);
}

#[test]
fn ascii_escapes_follow_python() {
    let style = Style {
        item_separator: ", ",
        key_separator: ": ",
        ensure_ascii: true,
    };
    // marshal.dumps("é\x7f😀\ud800\n", 2)
    let mut data = vec![marshal::UNICODE];
    let text = ["é\x7f😀".as_bytes(), &[0xed, 0xa0, 0x80], b"\n"].concat();
    data.extend_from_slice(&(text.len() as u32).to_le_bytes());
    data.extend_from_slice(&text);
    assert_eq!(
        marshal_to_json(&data, style).unwrap(),
        r#""\u00e9\u007f\ud83d\ude00\ud800\n""#
    );
    let unicode = Style {
        ensure_ascii: false,
        ..style
    };
    assert_eq!(
        marshal_to_json(&data, unicode),
        None,
        "a lone surrogate is Python's to write"
    );
}

#[test]
fn a_reference_is_written_again_and_a_cycle_is_python_s_to_report() {
    // marshal.dumps([s, s], 4) for a shared s = "k", then a list inside itself.
    let shared = [
        b'[',
        2,
        0,
        0,
        0,
        b'z' | marshal::FLAG_REF,
        1,
        b'k',
        b'r',
        0,
        0,
        0,
        0,
    ];
    assert_eq!(compact_ascii(&shared).as_deref(), Some(r#"["k","k"]"#));
    let cycle = [b'[' | marshal::FLAG_REF, 1, 0, 0, 0, b'r', 0, 0, 0, 0];
    assert_eq!(compact_ascii(&cycle), None);
}

#[test]
fn characters_outside_ascii_are_copied_or_escaped_and_malformed_ones_refused() {
    let unicode_str = |bytes: &[u8]| {
        let mut data = vec![marshal::UNICODE];
        data.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        data.extend_from_slice(bytes);
        data
    };
    let style = |ensure_ascii| Style {
        item_separator: ",",
        key_separator: ":",
        ensure_ascii,
    };
    let text = unicode_str("a\x7fé😀z".as_bytes());
    assert_eq!(
        marshal_to_json(&text, style(false)).as_deref(),
        Some("\"a\x7fé😀z\"")
    );
    assert_eq!(
        marshal_to_json(&text, style(true)).as_deref(),
        Some(r#""a\u007f\u00e9\ud83d\ude00z""#)
    );
    // No str marshals to these: an overlong "/", an overlong "é", a code
    // point past U+10FFFF, a stray continuation byte.
    for malformed in [
        &[0xe0, 0x80, 0xaf][..],
        &[0xf0, 0x80, 0x83, 0xa9],
        &[0xf4, 0x90, 0x80, 0x80],
        &[0x80],
    ] {
        for ensure_ascii in [true, false] {
            let data = unicode_str(malformed);
            assert_eq!(
                marshal_to_json(&data, style(ensure_ascii)),
                None,
                "{malformed:x?}"
            );
        }
    }
}
