"""Retags a wheel that holds no native code as pure (`py3-none-any`).

setuptools tags a wheel for the build's platform whenever the package
declares an extension module, even when the build skipped it (PyYAML built
without libyaml): such a wheel holds only Python files. This rewrites its
WHEEL metadata (`Root-Is-Purelib: true`, `Tag: py3-none-any`) and the RECORD
line for it, and writes `<dist>-<version>-py3-none-any.whl` beside the
original. Exit status 3, with `native: <file>` on stdout, when the wheel
holds a native library after all.

Usage: python retag_pure_wheel.py WHEEL OUT_DIR
"""

import base64
import hashlib
import os
import sys
import zipfile

NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _pure_metadata(text):
    lines = [line for line in text.splitlines() if not line.startswith(("Tag:", "Root-Is-Purelib:"))]
    return ("\n".join(lines + ["Root-Is-Purelib: true", "Tag: py3-none-any"]) + "\n").encode()


def main(source, out_dir):
    with zipfile.ZipFile(source) as wheel:
        names = wheel.namelist()
        native = [name for name in names if name.endswith(NATIVE_SUFFIXES) or ".so." in name]
        if native:
            print(f"native: {native[0]}")
            return 3
        metadata_name = next(name for name in names if name.endswith(".dist-info/WHEEL"))
        record_name = metadata_name[: -len("WHEEL")] + "RECORD"
        metadata = _pure_metadata(wheel.read(metadata_name).decode())
        record = [
            f"{metadata_name},{_record_hash(metadata)},{len(metadata)}" if line.startswith(metadata_name + ",") else line
            for line in wheel.read(record_name).decode().splitlines()
        ]
        replaced = {metadata_name: metadata, record_name: ("\n".join(record) + "\n").encode()}
        dist, version = os.path.basename(source).split("-")[:2]
        target = os.path.join(out_dir, f"{dist}-{version}-py3-none-any.whl")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as pure:
            for info in wheel.infolist():
                pure.writestr(info, replaced.get(info.filename) or wheel.read(info))
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
