//! `--mode` of `ipc tail` and `ipc send`: the permission bits the command trusts in a
//! channel it opens, as an opener's `Options::mode` does in the library, and the advice
//! it gives when a channel is refused.

use ipc::Error;

/// What an opener trusts by default (the library's default `Options::mode`).
pub(crate) const DEFAULT: u32 = 0o600;

/// Parses `--mode`: octal permission bits (`0660`, `660` or `0o660`).
pub(crate) fn parse(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "`{text}` is no permission mode: write octal bits such as 0660 (at most 0777)"
        )),
    }
}

/// The line that says why `endpoint` could not be opened with `--mode allowed`: for a
/// channel refused as untrusted, which `--mode` would open it, instead of the library's
/// advice to programs.
pub(crate) fn open_failed(endpoint: &str, e: &Error, allowed: u32) -> String {
    let Error::Untrusted {
        what,
        name,
        owner,
        mode,
        ..
    } = e
    else {
        return format!("{endpoint}: {e}");
    };
    let me = nix::unistd::geteuid().as_raw();
    // Every bit the object grants, and (another user's) some group or other access.
    let foreign = *owner != me;
    let wanted = mode
        | allowed
        | if foreign && mode & 0o077 == 0 {
            0o060
        } else {
            0
        };
    let why = if mode & !allowed != 0 {
        format!("its mode grants more than the {allowed:04o} this command trusts")
    } else {
        format!(
            "this command runs as uid {me} and trusts another user's object only with a \
             --mode that grants group or other access"
        )
    };
    format!(
        "{endpoint}: {what} `{name}` is not trusted: it is owned by uid {owner} with mode \
         {mode:04o}, and {why} (someone else may have made it); if uid {owner} and that mode \
         are trusted, add --mode {wanted:04o}, otherwise remove it ({})",
        removal(endpoint)
    )
}

/// How an operator removes the object of `endpoint`.
fn removal(endpoint: &str) -> String {
    match endpoint.split_once(':') {
        Some(("mq", name)) => {
            let name = name.trim_start_matches('/');
            format!("`rm /dev/mqueue/{name} /dev/shm/ipc-mq.{name}` as its owner or root")
        }
        Some((_, name)) => format!(
            "`ipc clean` once nobody uses it, or `rm /dev/shm/ipc.{name}` as its owner or root"
        ),
        None => "as its owner or root".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_mode_is_read_in_octal() {
        assert_eq!(parse("0660"), Ok(0o660));
        assert_eq!(parse("644"), Ok(0o644));
        assert_eq!(parse("0o600"), Ok(0o600));
        assert!(parse("0999").is_err());
        assert!(parse("01777").is_err());
        assert!(parse("").is_err());
    }
}
