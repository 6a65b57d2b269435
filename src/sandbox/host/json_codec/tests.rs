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

/// Rewrites our decoder's output (version 4: short ASCII strings and key
/// references) into the version 2 form the encoder reads, by expanding
/// references; enough for a round trip of the fixtures.
fn round_trip(text: &str) -> Option<String> {
    let packed = json_to_marshal(text.as_bytes())?;
    compact_ascii(&expand_references(&packed))
}

fn expand_references(data: &[u8]) -> Vec<u8> {
    let mut reader = marshal::Reader::new(data);
    let mut refs = Vec::new();
    let mut out = Vec::new();
    copy_value(&mut reader, &mut refs, &mut out);
    out
}

fn copy_value(reader: &mut marshal::Reader<'_>, refs: &mut Vec<Vec<u8>>, out: &mut Vec<u8>) {
    let tag = reader.byte().unwrap();
    let flagged = tag & marshal::FLAG_REF != 0;
    let start = out.len();
    match tag & !marshal::FLAG_REF {
        marshal::REF => {
            let index = reader.u32().unwrap() as usize;
            out.extend_from_slice(&refs[index]);
            return;
        }
        marshal::SHORT_ASCII => {
            let len = reader.byte().unwrap();
            out.push(marshal::UNICODE);
            out.extend_from_slice(&u32::from(len).to_le_bytes());
            out.extend_from_slice(reader.bytes(usize::from(len)).unwrap());
        }
        tag @ (marshal::ASCII | marshal::UNICODE) => {
            let len = reader.u32().unwrap();
            out.push(if tag == marshal::ASCII {
                marshal::UNICODE
            } else {
                tag
            });
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(reader.bytes(len as usize).unwrap());
        }
        marshal::LIST => {
            let count = reader.u32().unwrap();
            out.push(marshal::LIST);
            out.extend_from_slice(&count.to_le_bytes());
            for _ in 0..count {
                copy_value(reader, refs, out);
            }
        }
        marshal::DICT => {
            out.push(marshal::DICT);
            while data_peek(reader) != marshal::NULL {
                copy_value(reader, refs, out);
                copy_value(reader, refs, out);
            }
            out.push(reader.byte().unwrap());
        }
        marshal::INT => {
            out.push(marshal::INT);
            out.extend_from_slice(&reader.u32().unwrap().to_le_bytes());
        }
        marshal::LONG => {
            let mut writer = marshal::Writer::with_capacity(16);
            writer.int(reader.long().unwrap());
            out.extend_from_slice(&writer.finish());
        }
        marshal::BINARY_FLOAT => {
            out.push(marshal::BINARY_FLOAT);
            out.extend_from_slice(&reader.float().unwrap().to_le_bytes());
        }
        other => out.push(other),
    }
    if flagged {
        refs.push(out[start..].to_vec());
    }
}

fn data_peek(reader: &marshal::Reader<'_>) -> u8 {
    let mut copy = marshal::Reader::clone_at(reader);
    copy.byte().unwrap()
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
