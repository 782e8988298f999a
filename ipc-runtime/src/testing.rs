//! Names for what unit tests create, by the rule of the integration tests'
//! `tests/common`: `$IPC_TEST_PREFIX` (or `ipc-t`), the process id, a counter and a tag,
//! so that two runs never share a name and a run's leftover check finds every object by
//! its prefix.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other object has, e.g. `ipc-t-4711-3-bias`.
pub(crate) fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{base}-{}-{n}-{tag}", std::process::id())
}

/// A fresh directory under the temp dir, named by [`unique`]; removed with its contents
/// on drop. Creating it fails if the name exists.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
