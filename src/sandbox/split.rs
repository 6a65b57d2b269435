//! Splitting a built policy component into the runtime every policy shares
//! and the part that is the policy's own.
//!
//! Components built by componentize-py differ between policies in only two
//! core modules: module 0 defines the linear memory and holds the whole
//! snapshot as data, and module 1 (the WASI adapter) has constant globals
//! the snapshot left behind. [`split`] takes both out: the *runtime* is the
//! component with module 0's data removed (its memory minimum set to what
//! its importers declare) and module 1's constant globals zeroed, so every
//! policy built by the same toolchain yields the same runtime bytes and
//! shares one compiled copy. The *image* is a core module that declares
//! only module 0's memory and data, and *globals* are module 1's values;
//! the sandbox gives both back to each instance (see [`super::shared`]).
//! Nothing is lost: runtime + image + globals is the original component.
//! Both are [`Pieces`] borrowing the component: nothing is copied.

use std::ops::Range;

use wasmparser::{BinaryReader, Operator, Parser, Payload, TypeRef};

use super::pieces::Pieces;
use crate::manifest::write_leb128;

/// The core module whose memory and data become the image.
pub const IMAGE_MODULE: u32 = 0;
/// The core module whose constant globals are the policy's own.
pub const GLOBALS_MODULE: u32 = 1;

const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
const MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const CUSTOM_SECTION: u8 = 0;
const CORE_MODULE_SECTION: u8 = 1;
const GLOBAL_SECTION: u8 = 6;
const MEMORY_SECTION: u8 = 5;
const DATA_SECTION: u8 = 11;
const DATA_COUNT_SECTION: u8 = 12;
/// Our own custom sections (manifest, bundle) stay with the policy.
const OWN_SECTION_PREFIX: &str = "policy-host:";

/// A component taken apart by [`split`], borrowing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitComponent<'a> {
    /// The component without the policy's own data: the same bytes for
    /// every policy of one toolchain.
    pub runtime: Pieces<'a>,
    /// A core module with module 0's memory (the policy's minimum) and data.
    pub image: Pieces<'a>,
    /// The contents of the image's data section.
    pub image_data: &'a [u8],
    /// Module 1's defined globals as `(index, value)`.
    pub globals: Globals,
}

/// Why a component does not have the layout [`split`] needs (it is then
/// loaded whole, as before).
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// The bytes do not parse.
    #[error("malformed component: {0}")]
    Malformed(#[from] wasmparser::BinaryReaderError),
    /// The component is valid but laid out differently.
    #[error("not a shareable layout: {0}")]
    Layout(&'static str),
}

/// A section: its id, the range of its contents in the input.
type Section = (u8, Range<usize>);

/// Module 1's defined globals as `(index, value)`.
pub type Globals = Vec<(u32, i32)>;

/// Splits `component` into runtime, image and globals.
pub fn split(component: &[u8]) -> Result<SplitComponent<'_>, SplitError> {
    if component.get(..8) != Some(&COMPONENT_HEADER[..]) {
        return Err(SplitError::Layout("not a component"));
    }
    let sections = sections(component, 8)?;
    let modules: Vec<&Range<usize>> = sections
        .iter()
        .filter(|(id, _)| *id == CORE_MODULE_SECTION)
        .map(|(_, range)| range)
        .collect();
    let (Some(image_module), Some(globals_module)) = (
        modules.get(IMAGE_MODULE as usize),
        modules.get(GLOBALS_MODULE as usize),
    ) else {
        return Err(SplitError::Layout("fewer than two core modules"));
    };
    let mut floor = 0;
    for module in &modules[1..] {
        floor = floor.max(imported_memory_minimum(&component[(*module).clone()])?);
    }
    let (mut runtime_m0, image, image_data) = split_memory_module(component, image_module, floor)?;
    let (mut runtime_m1, globals) = split_globals_module(component, globals_module)?;
    let mut runtime = Pieces::starting_with(&COMPONENT_HEADER);
    let mut module_index = 0;
    for (id, range) in &sections {
        let contents = &component[range.clone()];
        if *id == CORE_MODULE_SECTION {
            match module_index {
                IMAGE_MODULE => push_pieces(&mut runtime, *id, std::mem::take(&mut runtime_m0)),
                GLOBALS_MODULE => push_pieces(&mut runtime, *id, std::mem::take(&mut runtime_m1)),
                _ => push_section(&mut runtime, *id, contents),
            }
            module_index += 1;
        } else if !(*id == CUSTOM_SECTION && is_own_custom_section(contents)) {
            push_section(&mut runtime, *id, contents);
        }
    }
    Ok(SplitComponent {
        runtime,
        image,
        image_data,
        globals,
    })
}

/// Module 0 without its data (memory minimum `floor`), the image module,
/// and the image's data section contents.
fn split_memory_module<'a>(
    component: &'a [u8],
    range: &Range<usize>,
    floor: u64,
) -> Result<(Pieces<'a>, Pieces<'a>, &'a [u8]), SplitError> {
    let module = &component[range.clone()];
    let mut runtime = Pieces::starting_with(&MODULE_HEADER);
    let mut image = Pieces::starting_with(&MODULE_HEADER);
    let (mut memory, mut data) = (false, None);
    for (id, section) in module_sections(module)? {
        let contents = &module[section.clone()];
        match id {
            MEMORY_SECTION => {
                let minimum = plain_memory_minimum(contents, range.start + section.start)?;
                if minimum < floor {
                    return Err(SplitError::Layout("memory smaller than its importers ask"));
                }
                push_owned_section(&mut runtime, id, &plain_memory(floor));
                push_section(&mut image, id, contents);
                memory = true;
            }
            DATA_SECTION => {
                push_section(&mut image, id, contents);
                data = Some(contents);
            }
            DATA_COUNT_SECTION => return Err(SplitError::Layout("module 0 counts its data")),
            _ => push_section(&mut runtime, id, contents),
        }
    }
    match data {
        Some(data) if memory => Ok((runtime, image, data)),
        _ => Err(SplitError::Layout("module 0 has no memory with data")),
    }
}

/// Module 1 with its constant globals zeroed, and their values.
fn split_globals_module<'a>(
    component: &'a [u8],
    range: &Range<usize>,
) -> Result<(Pieces<'a>, Globals), SplitError> {
    let module = &component[range.clone()];
    let mut runtime = Pieces::starting_with(&MODULE_HEADER);
    let mut globals = Vec::new();
    for (id, section) in module_sections(module)? {
        let contents = &module[section.clone()];
        if id != GLOBAL_SECTION {
            push_section(&mut runtime, id, contents);
            continue;
        }
        let reader = wasmparser::GlobalSectionReader::new(BinaryReader::new(
            contents,
            range.start + section.start,
        ))?;
        let mut zeroed = Vec::new();
        write_leb128(&mut zeroed, u64::from(reader.count()));
        for (index, global) in (0u32..).zip(reader) {
            let global = global?;
            let value = constant_i32(&global.init_expr)?;
            if global.ty.content_type != wasmparser::ValType::I32 || global.ty.shared {
                return Err(SplitError::Layout(
                    "module 1 has a global that is not an i32",
                ));
            }
            globals.push((index, value));
            zeroed.extend_from_slice(&[0x7f, u8::from(global.ty.mutable), 0x41, 0x00, 0x0b]);
        }
        push_owned_section(&mut runtime, id, &zeroed);
    }
    Ok((runtime, globals))
}

/// The value of a constant expression that is exactly `i32.const v`.
fn constant_i32(expr: &wasmparser::ConstExpr<'_>) -> Result<i32, SplitError> {
    let mut ops = expr.get_operators_reader();
    let value = match ops.read()? {
        Operator::I32Const { value } => value,
        _ => return Err(SplitError::Layout("module 1 has a computed global")),
    };
    match ops.read()? {
        Operator::End if ops.eof() => Ok(value),
        _ => Err(SplitError::Layout("module 1 has a computed global")),
    }
}

/// The minimum of the one plain memory (32-bit, unshared, no maximum,
/// default pages) a memory section declares.
fn plain_memory_minimum(contents: &[u8], offset: usize) -> Result<u64, SplitError> {
    let reader = wasmparser::MemorySectionReader::new(BinaryReader::new(contents, offset))?;
    if reader.count() != 1 {
        return Err(SplitError::Layout(
            "module 0 does not define exactly one memory",
        ));
    }
    let memory = reader.into_iter().next().expect("one memory")?;
    if memory.memory64
        || memory.shared
        || memory.maximum.is_some()
        || memory.page_size_log2.is_some()
    {
        return Err(SplitError::Layout("module 0's memory is not a plain one"));
    }
    Ok(memory.initial)
}

/// A memory section declaring one plain memory of `minimum` pages.
fn plain_memory(minimum: u64) -> Vec<u8> {
    let mut contents = vec![1, 0x00];
    write_leb128(&mut contents, minimum);
    contents
}

/// The largest minimum among the memories `module` imports.
fn imported_memory_minimum(module: &[u8]) -> Result<u64, SplitError> {
    let mut floor = 0;
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                if let TypeRef::Memory(memory) = import?.ty {
                    floor = floor.max(memory.initial);
                }
            }
        }
    }
    Ok(floor)
}

fn is_own_custom_section(contents: &[u8]) -> bool {
    let mut reader = BinaryReader::new(contents, 0);
    reader
        .read_string()
        .is_ok_and(|name| name.starts_with(OWN_SECTION_PREFIX))
}

/// The sections of a core module.
fn module_sections(module: &[u8]) -> Result<Vec<Section>, SplitError> {
    if module.get(..8) != Some(&MODULE_HEADER[..]) {
        return Err(SplitError::Layout("a core module with an unknown header"));
    }
    sections(module, 8)
}

/// The sections of a binary from `start` (past its header).
fn sections(bytes: &[u8], start: usize) -> Result<Vec<Section>, SplitError> {
    let mut reader = BinaryReader::new(&bytes[start..], start);
    let mut out = Vec::new();
    while !reader.eof() {
        let id = reader.read_u8()?;
        let len = reader.read_var_u32()? as usize;
        let begin = reader.original_position();
        reader.read_bytes(len)?;
        out.push((id, begin..begin + len));
    }
    Ok(out)
}

/// A section's id and size.
fn section_header(id: u8, len: usize) -> Vec<u8> {
    let mut header = vec![id];
    write_leb128(&mut header, len as u64);
    header
}

/// Appends a section whose contents are borrowed from the input.
fn push_section<'a>(out: &mut Pieces<'a>, id: u8, contents: &'a [u8]) {
    out.push_owned(&section_header(id, contents.len()));
    out.push_borrowed(contents);
}

/// Appends a section with contents of our own (a few bytes).
fn push_owned_section(out: &mut Pieces<'_>, id: u8, contents: &[u8]) {
    out.push_owned(&section_header(id, contents.len()));
    out.push_owned(contents);
}

/// Appends a section whose contents are `contents`.
fn push_pieces<'a>(out: &mut Pieces<'a>, id: u8, contents: Pieces<'a>) {
    out.push_owned(&section_header(id, contents.len()));
    out.append(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component of two core modules: module 0 with a memory of
    /// `pages` and `data`, module 1 importing it and holding `global`.
    fn component(pages: u32, data: &str, global: i32) -> Vec<u8> {
        let m0 = wat::parse_str(format!(
            r#"(module (memory (export "memory") {pages}) (data (i32.const 16) "{data}"))"#
        ))
        .unwrap();
        let m1 = wat::parse_str(format!(
            r#"(module (import "env" "memory" (memory 2)) (global (mut i32) (i32.const {global})))"#
        ))
        .unwrap();
        let mut out = Pieces::starting_with(&COMPONENT_HEADER);
        push_section(&mut out, CORE_MODULE_SECTION, &m0);
        push_section(&mut out, CORE_MODULE_SECTION, &m1);
        out.to_vec()
    }

    fn validate(bytes: &[u8]) {
        wasmparser::Validator::new().validate_all(bytes).unwrap();
    }

    #[test]
    fn splits_into_a_shared_runtime_an_image_and_globals() {
        let (a, b) = (
            component(3, "tenant-a", 7),
            component(4, "tenant-b-data", -9),
        );
        let (a, b) = (split(&a).unwrap(), split(&b).unwrap());
        let runtime = a.runtime.to_vec();
        assert_eq!(runtime, b.runtime.to_vec(), "the runtime is the same bytes");
        assert_eq!(a.globals, vec![(0, 7)]);
        assert_eq!(b.globals, vec![(0, -9)]);
        validate(&runtime);
        validate(&a.image.to_vec());
        let image = String::from_utf8_lossy(&b.image.to_vec()).into_owned();
        assert!(image.contains("tenant-b-data"));
        assert!(image.ends_with(&*String::from_utf8_lossy(b.image_data)));
        assert!(!String::from_utf8_lossy(&runtime).contains("tenant-a"));
    }

    #[test]
    fn the_runtime_memory_is_as_small_as_its_importers_allow() {
        let component = component(5, "x", 0);
        let runtime = split(&component).unwrap().runtime.to_vec();
        let runtime_m0 = &sections(&runtime, 8).unwrap()[0].1;
        let m0 = &runtime[runtime_m0.clone()];
        let memory = module_sections(m0)
            .unwrap()
            .into_iter()
            .find(|(id, _)| *id == MEMORY_SECTION)
            .unwrap();
        assert_eq!(plain_memory_minimum(&m0[memory.1], 0).unwrap(), 2);
    }

    #[test]
    fn other_layouts_are_refused() {
        let module = wat::parse_str("(module (memory 1) (data (i32.const 0) \"x\"))").unwrap();
        let mut one_module = Pieces::starting_with(&COMPONENT_HEADER);
        push_section(&mut one_module, CORE_MODULE_SECTION, &module);
        let one_module = one_module.to_vec();
        assert!(matches!(split(&one_module), Err(SplitError::Layout(_))));
        let module = wat::parse_str("(module)").unwrap();
        assert!(matches!(split(&module), Err(SplitError::Layout(_))));
        let too_small = component(1, "x", 0);
        assert!(matches!(split(&too_small), Err(SplitError::Layout(_))));
        assert!(split(&COMPONENT_HEADER[..6]).is_err());
    }
}
