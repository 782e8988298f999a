//! Names for what the tour makes, and guards that remove it on drop: also when the tour
//! fails or is interrupted.

use std::path::{Path, PathBuf};

/// A name unique to this run: it carries the pid, as CI's check for leftovers expects.
pub fn unique(what: &str) -> String {
    format!("ipc-tour-{}-{what}", std::process::id())
}

/// A private directory for FIFOs and socket files, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique("dir"));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unlinks a POSIX queue this process created, on drop.
pub struct MqUnlink(pub String);

impl Drop for MqUnlink {
    fn drop(&mut self) {
        let _ = ipc::mq::unlink(&self.0);
    }
}

/// Removes a System V queue on drop.
pub struct SysvRemove(pub i32);

impl Drop for SysvRemove {
    fn drop(&mut self) {
        let _ = ipc::sysv::remove(self.0);
    }
}

/// A path as a command-line argument for the child.
pub fn path_arg(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_owned()
}
