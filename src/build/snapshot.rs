//! Facts about a built component's pre-initialized snapshot.

/// WebAssembly page size.
const PAGE_BYTES: u64 = 64 * 1024;

/// The largest initial linear-memory size declared by any core module in
/// `component`: the memory every call's instance starts with (the snapshot
/// componentize-py took, including whatever the build-time warm-up grew).
pub fn initial_memory_bytes(component: &[u8]) -> Result<u64, wasmparser::BinaryReaderError> {
    let mut largest = 0;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let wasmparser::Payload::MemorySection(memories) = payload? {
            for memory in memories {
                largest = largest.max(memory?.initial.saturating_mul(PAGE_BYTES));
            }
        }
    }
    Ok(largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component nesting one core module with one memory of `pages`.
    fn component_with_memory(pages: u8) -> Vec<u8> {
        let module: Vec<u8> = [
            &b"\0asm\x01\0\0\0"[..],
            // memory section: 1 memory, flags 0 (min only), min = pages
            &[5, 3, 1, 0, pages],
        ]
        .concat();
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.push(1); // core module section
        component.push(module.len() as u8);
        component.extend(module);
        component
    }

    #[test]
    fn reads_the_nested_modules_memory() {
        assert_eq!(
            initial_memory_bytes(&component_with_memory(3)).unwrap(),
            3 * PAGE_BYTES
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(initial_memory_bytes(b"\0asm\x0d\0\x01\0\x01\x7f").is_err());
    }
}
