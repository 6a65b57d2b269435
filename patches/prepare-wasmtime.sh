#!/usr/bin/env bash
# Prepares our patched copies of Wasmtime's crates, for builds that use them
# (`make` does, unless WASMTIME=stock). Every directory
# patches/<crate>-<version>/ holds the patches for one crate:
#   1. cargo fetches the registry sources (through a throwaway manifest, so
#      the project's Cargo.lock is untouched);
#   2. each patched crate's source is copied to target/patched/<crate>-<version>;
#   3. its *.patch files are applied to the copy, in name order, with zero
#      fuzz: a hunk whose context does not match exactly fails the build
#      instead of landing somewhere nearby.
# The build then points cargo at each copy with
#   --config 'patch.crates-io.<crate>.path="target/patched/<crate>-<version>"'
# (the Makefile's CARGO_FLAGS). No third-party source is committed;
# docs/upstream-patches.md explains each patch.
# Idempotent: redoes a crate's copy only when its patches change.
set -euo pipefail

version="48.0.8"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

fetch_sources() {
  local fetcher="$root/target/patched/fetch"
  mkdir -p "$fetcher/src"
  cat > "$fetcher/Cargo.toml" <<TOML
[package]
name = "fetch-wasmtime"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasmtime = { version = "=$version", default-features = false, features = ["cranelift"] }

[workspace]
TOML
  : > "$fetcher/src/lib.rs"
  cargo fetch --quiet --manifest-path "$fetcher/Cargo.toml"
}

# prepare_crate <crate>: copy the registry source and apply its patches.
prepare_crate() {
  local crate="$1"
  local patches="$root/patches/$crate-$version"
  local dest="$root/target/patched/$crate-$version"
  local stamp="$dest/.policy-host-patches"
  local want
  want="$(cat "$patches"/*.patch | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  [ -n "$fetched" ] || { fetch_sources; fetched=yes; }
  local source_dir
  source_dir="$(ls -d "$cargo_home"/registry/src/*/"$crate-$version" 2>/dev/null | head -n 1)"
  [ -d "$source_dir" ] || { echo "$crate $version source not found under $cargo_home/registry/src" >&2; exit 1; }
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  cp -R "$source_dir" "$dest"
  local patch
  for patch in "$patches"/*.patch; do
    echo "applying $crate/$(basename "$patch")"
    patch --quiet --fuzz=0 --strip=1 --directory="$dest" < "$patch"
  done
  echo "$want" > "$stamp"
}

fetched=""
for dir in "$root"/patches/*-"$version"/; do
  prepare_crate "$(basename "$dir" "-$version")"
done
