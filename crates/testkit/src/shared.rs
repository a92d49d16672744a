//! The project's `shared/` directory (vectors, scenarios, reference data).
//!
//! It lives beside the checkout in development and CI, never in a user's clone. Tests that
//! read it call [`dir`]: absent, the test is skipped with a message; absent while
//! `LATCHKEY_REQUIRE_SHARED=1` is set (CI), the test fails.

use std::path::PathBuf;

/// Environment variable that turns a missing `shared/` into a failure.
pub const REQUIRE_ENV: &str = "LATCHKEY_REQUIRE_SHARED";

/// Environment variable that points at `shared/` explicitly.
pub const DIR_ENV: &str = "LATCHKEY_SHARED_DIR";

/// The `shared/` directory, or `None` (after printing why) when a test should skip.
///
/// Looks at `$LATCHKEY_SHARED_DIR`, then `../shared` beside the workspace root.
///
/// # Panics
///
/// When the directory is missing and `LATCHKEY_REQUIRE_SHARED=1`.
#[must_use]
#[allow(clippy::panic)] // documented: CI must fail rather than skip
pub fn dir() -> Option<PathBuf> {
    let found = locate();
    if found.is_none() {
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{REQUIRE_ENV}=1 but the shared/ directory was not found"
        );
        eprintln!("skipped: shared/ not found beside the checkout (set {DIR_ENV})");
    }
    found
}

fn locate() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os(DIR_ENV) {
        let path = PathBuf::from(explicit);
        return path.is_dir().then_some(path);
    }
    // crates/testkit -> workspace root -> its parent.
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = workspace.join("../shared");
    path.join("vectors").is_dir().then_some(path)
}
