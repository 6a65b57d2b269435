#!/usr/bin/env bash
# Prepares our patched copy of the wasmtime crate, for builds that use it
# (`make` does, unless WASMTIME=stock):
#   1. cargo fetches wasmtime's registry source (through a throwaway manifest,
#      so the project's Cargo.lock is untouched);
#   2. the source is copied to target/patched/wasmtime-<version>;
#   3. every patches/wasmtime-<version>/*.patch is applied to the copy.
# The build then points cargo at the copy with
#   --config 'patch.crates-io.wasmtime.path="target/patched/wasmtime-<version>"'.
# No third-party source is committed; docs/upstream-patches.md explains each patch.
# Idempotent: redoes the copy only when a patch changes.
set -euo pipefail

version="48.0.8"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
patches="$root/patches/wasmtime-$version"
dest="$root/target/patched/wasmtime-$version"
stamp="$dest/.policy-host-patches"
want="$(cat "$patches"/*.patch | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

fetcher="$root/target/patched/fetch"
mkdir -p "$fetcher/src"
cat > "$fetcher/Cargo.toml" <<TOML
[package]
name = "fetch-wasmtime"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasmtime = { version = "=$version", default-features = false }

[workspace]
TOML
: > "$fetcher/src/lib.rs"
cargo fetch --quiet --manifest-path "$fetcher/Cargo.toml"

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
source_dir="$(ls -d "$cargo_home"/registry/src/*/"wasmtime-$version" | head -n 1)"
[ -d "$source_dir" ] || { echo "wasmtime $version source not found under $cargo_home/registry/src" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -R "$source_dir" "$dest"
for patch in "$patches"/*.patch; do
  echo "applying $(basename "$patch")"
  patch --quiet --strip=1 --directory="$dest" < "$patch"
done
echo "$want" > "$stamp"
