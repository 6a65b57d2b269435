//! Writing artifacts with holes where their pages are all zeros.

use std::io::{self, Seek, Write};

/// Writes `bytes` to the new, empty `file`, seeking over whole pages of
/// zeros so that the file system leaves holes there.
pub(super) fn write_sparse(file: &mut cap_std::fs::File, bytes: &[u8]) -> io::Result<()> {
    const PAGE: usize = 4096;
    let mut written = 0;
    for (index, page) in bytes.chunks(PAGE).enumerate() {
        let at = index * PAGE;
        if page.len() == PAGE && page.iter().all(|&b| b == 0) {
            continue;
        }
        if written != at {
            file.seek(io::SeekFrom::Start(at as u64))?;
        }
        file.write_all(page)?;
        written = at + page.len();
    }
    file.set_len(bytes.len() as u64)
}
