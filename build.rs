//! Compiles `proto/` with tonic/prost, using the protoc binary shipped in the
//! protoc-bin-vendored crate (nothing installed by hand).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe { std::env::set_var("PROTOC", protoc) };
    tonic_prost_build::configure().bytes(".").compile_protos(
        &["proto/python_executor.proto"],
        &["proto", include.to_str().unwrap_or(".")],
    )?;
    println!("cargo:rerun-if-changed=proto/python_executor.proto");
    Ok(())
}
