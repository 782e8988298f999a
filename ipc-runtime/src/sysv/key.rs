//! The key a System V queue is found by: a number agreed on, one `ftok(3)` derives from a
//! file, or `IPC_PRIVATE`.

use std::ffi::CString;
use std::path::Path;

use nix::errno::Errno;

use crate::error::{Error, Result};

/// The key a queue is found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `IPC_PRIVATE`: always a new queue, found only by its id
    /// ([`Receiver::id`](super::Receiver::id)), e.g. handed to a child process.
    Private,
    /// A numeric key agreed on by the processes; not 0, which is `IPC_PRIVATE` to the
    /// kernel (`create`, `open` and `open_or_create` refuse it with
    /// [`Error::InvalidName`]: use [`Key::Private`] for a private queue).
    Value(i32),
}

impl Key {
    /// The key `ftok(3)` derives from an existing file and a non-zero project id.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the path does not exist (a component of it is missing or is
    /// not a directory), [`Error::InvalidName`] for project id 0 or a path with a NUL byte.
    pub fn from_path(path: impl AsRef<Path>, project: u8) -> Result<Key> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if project == 0 {
            return Err(Error::InvalidName {
                name: format!("{shown} (project 0)"),
                reason: "ftok needs a non-zero project id",
            });
        }
        let c =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::InvalidName {
                name: shown.clone(),
                reason: "a path cannot contain a NUL byte",
            })?;
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        let k = unsafe { libc::ftok(c.as_ptr(), libc::c_int::from(project)) };
        if k == -1 {
            return Err(match Errno::last() {
                // A component of the path is a regular file: nothing exists there.
                Errno::ENOTDIR => Error::NotFound {
                    what: "file",
                    name: shown,
                },
                e => Error::named("ftok", "file", &shown, e),
            });
        }
        Ok(Key::Value(k))
    }

    pub(super) fn raw(self) -> libc::key_t {
        match self {
            Key::Private => libc::IPC_PRIVATE,
            Key::Value(k) => k,
        }
    }

    pub(super) fn label(self) -> String {
        match self {
            Key::Private => "IPC_PRIVATE".into(),
            Key::Value(k) => format!("key {k:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftok_refuses_project_zero_and_missing_files() {
        assert!(matches!(
            Key::from_path(std::env::temp_dir(), 0),
            Err(Error::InvalidName { .. })
        ));
        let dir = crate::testing::TempDir::new("key");
        assert!(matches!(
            Key::from_path(dir.join("missing"), 1),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(
            Key::from_path(dir.path(), 1).unwrap(),
            Key::from_path(dir.path(), 1).unwrap()
        );
    }
}
