//! Marks the Python objects of a built component's snapshot immortal, in
//! the component's memory image.
//!
//! CPython 3.14 skips reference-count writes to immortal objects. Marked in
//! the image, the objects every call only uses (modules, functions, types,
//! constants, the policy's own globals) are no longer written by the calls
//! that use them, so their pages stay shared with the image and the reset
//! after each call has fewer pages to copy back. The glue lists the objects
//! (address and type address, see `_mark_snapshot_immortal`); this module
//! rewrites each one's reference count in the data segment that holds it,
//! only where the image holds an object of that type with a live count.
//! The segments keep their sizes: the component is patched in place.
//!
//! The list comes from the guest (policy code ran before the glue wrote
//! it), so it is untrusted: at worst it changes 4-byte words of the
//! policy's own memory image, which its code could write anyway.

use std::ops::Range;

use wasmparser::{DataKind, Operator, Parser, Payload};

/// `_Py_IMMORTAL_INITIAL_REFCNT` for 32-bit targets in CPython 3.14.
const IMMORTAL_REFCOUNT: u32 = 5 << 28;
/// `_Py_IMMORTAL_MINIMUM_REFCNT` for 32-bit targets: counts at or above it
/// are immortal.
const IMMORTAL_MINIMUM: u32 = 1 << 30;
/// One listed object: its address, then its type's address (u32 LE each).
const ENTRY_BYTES: usize = 8;
/// An object's header on a 32-bit target: reference count, then type
/// pointer.
const HEADER_BYTES: usize = 8;

/// What marking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Marked {
    /// Objects whose reference count was set to immortal.
    pub marked: usize,
    /// Listed objects left as they were: outside the image, or the image
    /// does not hold an object of the listed type with a live count there.
    pub skipped: usize,
}

/// Why a component could not be marked.
#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    /// The component does not parse.
    #[error("reading the component: {0}")]
    Parse(#[from] wasmparser::BinaryReaderError),
    /// The object list is not a whole number of entries.
    #[error("the snapshot's object list has {0} bytes, not a multiple of {ENTRY_BYTES}")]
    Truncated(usize),
    /// No single core module defines a memory with data in it.
    #[error("no core module defines the one memory the snapshot's data is in")]
    NoImage,
}

/// A data segment of the memory image: where it lands in linear memory and
/// where its bytes are in the component.
#[derive(Debug, Clone)]
struct Segment {
    address: u64,
    bytes: Range<usize>,
}

/// Sets the reference count of every object in `objects` (the glue's list)
/// to immortal in `component`'s memory image.
pub fn mark_immortal(component: &mut [u8], objects: &[u8]) -> Result<Marked, MarkError> {
    if !objects.len().is_multiple_of(ENTRY_BYTES) {
        return Err(MarkError::Truncated(objects.len()));
    }
    let mut segments = image_segments(component)?;
    segments.sort_by_key(|segment| segment.address);
    let mut result = Marked::default();
    for entry in objects.chunks_exact(ENTRY_BYTES) {
        let address = u64::from(word(entry, 0));
        let type_address = word(entry, 4);
        match header_at(&segments, address) {
            Some(at) if holds_live_object(component, at, type_address) => {
                component[at..at + 4].copy_from_slice(&IMMORTAL_REFCOUNT.to_le_bytes());
                result.marked += 1;
            }
            _ => result.skipped += 1,
        }
    }
    Ok(result)
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// Whether the object header at component offset `at` has a mortal live
/// reference count and the listed type.
fn holds_live_object(component: &[u8], at: usize, type_address: u32) -> bool {
    let refcount = word(component, at);
    refcount > 0 && refcount < IMMORTAL_MINIMUM && word(component, at + 4) == type_address
}

/// The component offset of the 8-byte object header at `address`, when one
/// segment holds all of it.
fn header_at(segments: &[Segment], address: u64) -> Option<usize> {
    let index = segments.partition_point(|segment| segment.address <= address);
    let segment = &segments[index.checked_sub(1)?];
    let offset = usize::try_from(address - segment.address).ok()?;
    (offset + HEADER_BYTES <= segment.bytes.len()).then(|| segment.bytes.start + offset)
}

/// The active, constant-offset data segments of the one core module that
/// defines a memory and initializes it.
fn image_segments(component: &[u8]) -> Result<Vec<Segment>, MarkError> {
    let mut found: Option<Vec<Segment>> = None;
    let (mut imports_memory, mut defines_memory) = (false, false);
    for payload in Parser::new(0).parse_all(component) {
        match payload? {
            Payload::Version { .. } => (imports_memory, defines_memory) = (false, false),
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    imports_memory |= matches!(import?.ty, wasmparser::TypeRef::Memory(_));
                }
            }
            Payload::MemorySection(memories) => {
                defines_memory = !imports_memory && memories.count() == 1;
            }
            Payload::DataSection(data) if defines_memory => {
                if found.is_some() {
                    return Err(MarkError::NoImage);
                }
                found = Some(constant_segments(component, data)?);
            }
            _ => {}
        }
    }
    found
        .filter(|segments| !segments.is_empty())
        .ok_or(MarkError::NoImage)
}

fn constant_segments(
    component: &[u8],
    data: wasmparser::DataSectionReader<'_>,
) -> Result<Vec<Segment>, MarkError> {
    let mut segments = Vec::new();
    for segment in data {
        let segment = segment?;
        let DataKind::Active {
            memory_index: 0,
            offset_expr,
        } = segment.kind
        else {
            continue;
        };
        let mut operators = offset_expr.get_operators_reader();
        let Operator::I32Const { value } = operators.read()? else {
            continue;
        };
        let start = segment.data.as_ptr() as usize - component.as_ptr() as usize;
        segments.push(Segment {
            address: u64::from(value as u32),
            bytes: start..start + segment.data.len(),
        });
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the test image's data segment lands in linear memory.
    const BASE: u32 = 0x1000;
    /// The type address every test object has.
    const TYPE: u32 = 0xabc0;

    /// A component nesting `module_wat`.
    fn component(module_wat: &str) -> Vec<u8> {
        let module = wat::parse_str(module_wat).expect("test module");
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.push(1); // core module section
        leb128(&mut component, module.len());
        component.extend(module);
        component
    }

    fn leb128(out: &mut Vec<u8>, mut value: usize) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            out.push(if value == 0 { byte } else { byte | 0x80 });
            if value == 0 {
                break;
            }
        }
    }

    /// WAT string escapes for `words` in little-endian order.
    fn data(words: &[u32]) -> String {
        words
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .map(|byte| format!("\\{byte:02x}"))
            .collect()
    }

    /// An image of three object headers at BASE, BASE+8 and BASE+16:
    /// live and typed, live with another type, already immortal.
    fn image() -> Vec<u8> {
        let words = [3, TYPE, 1, TYPE + 8, IMMORTAL_MINIMUM, TYPE];
        component(&format!(
            r#"(module (memory 1) (data (i32.const {BASE}) "{}"))"#,
            data(&words)
        ))
    }

    fn list(objects: &[(u32, u32)]) -> Vec<u8> {
        objects
            .iter()
            .flat_map(|(at, ty)| [at.to_le_bytes(), ty.to_le_bytes()])
            .flatten()
            .collect()
    }

    /// The reference count at `address` in `component`'s image.
    fn refcount(component: &[u8], address: u32) -> u32 {
        let segments = image_segments(component).unwrap();
        word(component, header_at(&segments, u64::from(address)).unwrap())
    }

    #[test]
    fn marks_a_live_object_of_the_listed_type() {
        let mut wasm = image();
        let marked = mark_immortal(&mut wasm, &list(&[(BASE, TYPE)])).unwrap();
        assert_eq!(
            marked,
            Marked {
                marked: 1,
                skipped: 0
            }
        );
        assert_eq!(refcount(&wasm, BASE), IMMORTAL_REFCOUNT);
        assert_eq!(refcount(&wasm, BASE + 8), 1, "other objects untouched");
    }

    #[test]
    fn leaves_what_the_image_does_not_hold_as_listed() {
        let original = image();
        let mut wasm = original.clone();
        let objects = list(&[
            (BASE + 8, TYPE),  // the image holds another type there
            (BASE + 16, TYPE), // already immortal
            (BASE + 20, 0),    // 8 bytes would run past the segment
            (0x8000, TYPE),    // outside every segment
            (BASE - 4, TYPE),  // straddles the segment's start
        ]);
        let marked = mark_immortal(&mut wasm, &objects).unwrap();
        assert_eq!(
            marked,
            Marked {
                marked: 0,
                skipped: 5
            }
        );
        assert_eq!(wasm, original);
    }

    #[test]
    fn a_truncated_list_is_an_error() {
        let mut wasm = image();
        assert!(matches!(
            mark_immortal(&mut wasm, &[0; 12]),
            Err(MarkError::Truncated(12))
        ));
    }

    #[test]
    fn a_module_importing_its_memory_is_not_the_image() {
        let mut wasm = component(&format!(
            r#"(module (import "env" "memory" (memory 1)) (data (i32.const {BASE}) "{}"))"#,
            data(&[3, TYPE])
        ));
        assert!(matches!(
            mark_immortal(&mut wasm, &list(&[(BASE, TYPE)])),
            Err(MarkError::NoImage)
        ));
    }

    #[test]
    fn segments_placed_by_a_global_are_not_the_image() {
        let mut wasm = component(&format!(
            r#"(module (global $base i32 (i32.const {BASE})) (memory 1)
                 (data (global.get $base) "{}"))"#,
            data(&[3, TYPE])
        ));
        assert!(matches!(
            mark_immortal(&mut wasm, &list(&[(BASE, TYPE)])),
            Err(MarkError::NoImage)
        ));
    }
}
