//! Workspace integration and parity tests. The tests are the `[[test]]`
//! targets beside this file; `fixtures/` holds what the reference scripts in
//! `reference/` wrote.

use std::path::PathBuf;

/// Path of a file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}
