//! Wasm proposals the engine refuses, so that code the runtime has only
//! stubs for is never compiled (SECURITY.md, "Wasmtime advisories").

use crate::harness::core_engine;

fn refusal(wat: &str) -> String {
    let engine = core_engine();
    let bytes = wat::parse_str(wat).expect("valid text");
    let error = wasmtime::Module::new(engine.engine(), bytes).expect_err("the module is refused");
    format!("{error:#}")
}

/// GHSA-rc4p-x33f-vpr2: without the `gc` feature, Wasmtime 48.0.8 left the
/// GC proposal on, and a call through a non-final function type reached a
/// subtype-check stub that aborts the process. The engine now refuses the
/// module when it compiles it.
#[test]
fn a_module_with_non_final_function_types_is_refused() {
    let error = refusal(
        r#"(module
            (type $f (sub (func)))
            (table 1 funcref)
            (func $g (type $f))
            (elem (i32.const 0) func $g)
            (func (export "run") (call_indirect (type $f) (i32.const 0))))"#,
    );
    assert!(error.contains("gc"), "{error}");
}

/// GHSA-2674-w29h-wqvj needs the threads proposal, which stays off: shared
/// memories and atomics never compile.
#[test]
fn a_module_with_shared_memory_is_refused() {
    let error = refusal(r#"(module (memory 1 1 shared))"#);
    assert!(error.contains("threads"), "{error}");
}
