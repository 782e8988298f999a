//! Which named objects an opener trusts: one owner and mode policy for every kind of
//! object this crate opens by name (shared-memory segments and the System V memory they
//! name, POSIX message queues and their schema headers).
//!
//! An object is refused with [`Error::Untrusted`] when
//!
//! * its mode grants more than the opener's `Options::mode` allows (a segment or queue
//!   made world-writable is open to anyone's forgeries), or
//! * it belongs to another user and the opener's `Options::mode` grants neither group nor
//!   other access (the default, 0600, trusts only objects of this process's effective uid).

use crate::error::{Error, Result};

/// Applies the policy to an object of kind `what` named `name`, owned by `owner` with
/// permission bits `mode`, for an opener that allows `allowed`. `remove` says how to
/// remove the object, for the error.
pub(crate) fn check(
    what: &'static str,
    name: &str,
    owner: u32,
    mode: u32,
    allowed: u32,
    remove: &str,
) -> Result<()> {
    let mode = mode & 0o777;
    let me = nix::unistd::geteuid().as_raw();
    let hint = if mode & !allowed != 0 {
        format!(
            "its mode grants more than the {allowed:04o} this side allows; if that is \
             intended, open it with Options::mode({mode:#o}), otherwise remove it ({remove})"
        )
    } else if owner != me && allowed & 0o077 == 0 {
        format!(
            "this process runs as uid {me}, and an object of another user may have been \
             planted; if uid {owner} is trusted, open it with an Options::mode that grants \
             group or other access, otherwise remove it ({remove})"
        )
    } else {
        return Ok(());
    };
    Err(Error::Untrusted {
        what,
        name: name.to_owned(),
        owner,
        mode,
        hint,
    })
}

/// [`check`] for an object whose `fstat(2)` is `st`.
pub(crate) fn check_stat(
    what: &'static str,
    name: &str,
    st: &libc::stat,
    allowed: u32,
    remove: &str,
) -> Result<()> {
    check(what, name, st.st_uid, st.st_mode, allowed, remove)
}
