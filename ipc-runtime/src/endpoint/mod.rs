//! Endpoints as strings: which transport, where, and its options, in one grammar that a
//! configuration file, a command line or another program can carry.
//!
//! | endpoint | transport |
//! |---|---|
//! | `pipe:` | this process's standard input (to receive) or output (to send) |
//! | `fifo:PATH` | a named pipe |
//! | `shm:NAME[?capacity=SLOTS]` | a shared-memory channel |
//! | `mq:/NAME[?capacity=MESSAGES]` | a POSIX message queue |
//! | `sysv:KEY` | a System V message queue (a non-zero decimal or `0x` hex key) |
//! | `unix:PATH` | a Unix stream socket |
//! | `unix-seqpacket:PATH` | a Unix seqpacket socket |
//! | `tcp:HOST:PORT` | TCP (`HOST` a name, an IPv4 address, or an IPv6 address in brackets) |
//!
//! Options come after `?` as `key=value` pairs (or a bare `key` for a flag) joined by `&`;
//! a transport accepts only its own keys. The flag `foreign`, on `pipe:`, `fifo:`, `mq:`,
//! `sysv:`, `unix:` and `tcp:` (`mq:/readings?capacity=64&foreign`), opens the end in foreign-peer mode,
//! for a peer not built on this crate: no handshake, header or fingerprint, each message
//! exactly the bytes of a `T` ([`Endpoint::Foreign`]). In a path or name, `%` and `?` are written `%25` and `%3F` (and any byte may
//! be written `%XX`); [`Endpoint`]'s `Display` writes the one canonical form, which parses
//! back to the same endpoint. A string that does not parse is
//! [`Error::InvalidEndpoint`], which says what is wrong and shows this grammar.
//!
//! ```
//! use ipc::Endpoint;
//!
//! let e: Endpoint = "shm:orders?capacity=1024".parse()?;
//! assert_eq!(e, Endpoint::Shm { name: "orders".into(), capacity: Some(1024) });
//! assert_eq!(e.to_string(), "shm:orders?capacity=1024");
//! assert!("tcp:localhost".parse::<Endpoint>().is_err()); // no port
//! # Ok::<(), ipc::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

mod incoming;
mod open;

pub use incoming::{Incoming, Listen};
pub use open::{bind, connect};

/// The grammar, for errors.
pub const GRAMMAR: &str = "pipe:, fifo:PATH, shm:NAME[?capacity=SLOTS], \
                           mq:/NAME[?capacity=MESSAGES], sysv:KEY, unix:PATH, \
                           unix-seqpacket:PATH, tcp:HOST:PORT; \
                           `?foreign` on pipe:, fifo:, mq:, sysv:, unix:, tcp:";

/// Where a channel is, and over which transport: see the [module docs](self) for the
/// grammar of its string form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `pipe:`: standard input or output of this process.
    Pipe,
    /// `fifo:PATH`: a named pipe.
    Fifo {
        /// Its path.
        path: String,
    },
    /// `shm:NAME`: a shared-memory channel.
    Shm {
        /// Its name.
        name: String,
        /// Slots in the ring, for the side that creates it (`?capacity=`).
        capacity: Option<usize>,
    },
    /// `mq:/NAME`: a POSIX message queue.
    Mq {
        /// Its name, with its leading `/`.
        name: String,
        /// Messages the queue holds, for the side that creates it (`?capacity=`).
        capacity: Option<usize>,
    },
    /// `sysv:KEY`: a System V message queue.
    Sysv {
        /// Its key (never 0, which is `IPC_PRIVATE`).
        key: i32,
    },
    /// `unix:PATH`: a Unix stream socket.
    Unix {
        /// The socket file's path.
        path: String,
    },
    /// `unix-seqpacket:PATH`: a Unix seqpacket socket.
    UnixSeqpacket {
        /// The socket file's path.
        path: String,
    },
    /// `tcp:HOST:PORT`: TCP.
    Tcp {
        /// A host name or an address (an IPv6 address without its brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// `…?foreign`: the channel the inner endpoint names (a pipe, FIFO, POSIX or System V
    /// queue, Unix stream socket, TCP), in foreign-peer mode: each message is exactly the bytes of a `T`, with no
    /// handshake, schema header or fingerprint, for a peer not built on this crate (see
    /// [`mq::Options::foreign`](crate::mq::Options::foreign),
    /// [`sysv::Options::foreign`](crate::sysv::Options::foreign),
    /// [`pipe::Sender::foreign`](crate::pipe::Sender::foreign),
    /// [`socket::Options::foreign`](crate::socket::Options::foreign),
    /// [`tcp::Listener::foreign`](crate::tcp::Listener::foreign)). Opening it on another
    /// transport is [`Error::Unsupported`].
    Foreign(Box<Endpoint>),
}

impl Endpoint {
    /// The scheme: the part before the first `:`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Endpoint::Pipe => "pipe",
            Endpoint::Fifo { .. } => "fifo",
            Endpoint::Shm { .. } => "shm",
            Endpoint::Mq { .. } => "mq",
            Endpoint::Sysv { .. } => "sysv",
            Endpoint::Unix { .. } => "unix",
            Endpoint::UnixSeqpacket { .. } => "unix-seqpacket",
            Endpoint::Tcp { .. } => "tcp",
            Endpoint::Foreign(inner) => inner.scheme(),
        }
    }

    /// Whether a foreign-peer end may be opened on this transport (`?foreign`).
    fn takes_foreign(&self) -> bool {
        matches!(
            self,
            Endpoint::Pipe
                | Endpoint::Fifo { .. }
                | Endpoint::Mq { .. }
                | Endpoint::Sysv { .. }
                | Endpoint::Unix { .. }
                | Endpoint::Tcp { .. }
        )
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |problem: String| Error::InvalidEndpoint {
            endpoint: s.to_owned(),
            problem,
            grammar: GRAMMAR,
        };
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(bad("no `:` after a transport name".into()));
        };
        let (raw, query) = match rest.split_once('?') {
            Some((raw, query)) => (raw, Some(query)),
            None => (rest, None),
        };
        let place = decode(raw).map_err(bad)?;
        let mut options = Options::parse(query).map_err(bad)?;
        let endpoint = match scheme {
            "pipe" if place.is_empty() => Endpoint::Pipe,
            "pipe" => return Err(bad("`pipe:` takes nothing after the `:`".into())),
            "fifo" => Endpoint::Fifo {
                path: nonempty(place, "a path").map_err(bad)?,
            },
            "shm" => Endpoint::Shm {
                name: nonempty(place, "a name").map_err(bad)?,
                capacity: options.take_count("capacity").map_err(bad)?,
            },
            "mq" if !place.starts_with('/') => {
                return Err(bad("a POSIX queue's name starts with `/`: mq:/NAME".into()))
            }
            "mq" => Endpoint::Mq {
                name: place,
                capacity: options.take_count("capacity").map_err(bad)?,
            },
            "sysv" => Endpoint::Sysv {
                key: parse_key(&place).map_err(bad)?,
            },
            "unix" => Endpoint::Unix {
                path: nonempty(place, "a path").map_err(bad)?,
            },
            "unix-seqpacket" => Endpoint::UnixSeqpacket {
                path: nonempty(place, "a path").map_err(bad)?,
            },
            "tcp" => {
                // Split before decoding: an escaped `:` or `]` belongs to the host.
                let (host, port) = parse_host_port(raw).map_err(bad)?;
                Endpoint::Tcp {
                    host: decode(host).map_err(bad)?,
                    port,
                }
            }
            other => return Err(bad(format!("unknown transport `{other}`"))),
        };
        let endpoint = if endpoint.takes_foreign() && options.take_flag("foreign").map_err(bad)? {
            Endpoint::Foreign(Box::new(endpoint))
        } else {
            endpoint
        };
        options.finish(scheme).map_err(bad)?;
        Ok(endpoint)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Endpoint::Foreign(inner) = self {
            let inner = inner.to_string();
            let sep = if inner.contains('?') { '&' } else { '?' };
            return write!(f, "{inner}{sep}foreign");
        }
        write!(f, "{}:", self.scheme())?;
        match self {
            Endpoint::Pipe => Ok(()),
            Endpoint::Fifo { path }
            | Endpoint::Unix { path }
            | Endpoint::UnixSeqpacket { path } => f.write_str(&encode(path)),
            Endpoint::Shm { name, capacity } | Endpoint::Mq { name, capacity } => {
                f.write_str(&encode(name))?;
                match capacity {
                    Some(n) => write!(f, "?capacity={n}"),
                    None => Ok(()),
                }
            }
            Endpoint::Sysv { key } => write!(f, "{key}"),
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "[{}]:{port}", encode(host))
            }
            Endpoint::Tcp { host, port } => write!(f, "{}:{port}", encode(host)),
            Endpoint::Foreign(_) => unreachable!("written above"),
        }
    }
}

/// The `key=value` options of an endpoint, taken one by one by the transport that knows
/// them; what is left over is an error.
/// A bare `key` (a flag) has no value.
struct Options(Vec<(String, Option<String>)>);

impl Options {
    fn parse(query: Option<&str>) -> Result<Options, String> {
        let mut pairs = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = match pair.split_once('=') {
                Some((key, value)) => (decode(key)?, Some(decode(value)?)),
                None if !pair.is_empty() => (decode(pair)?, None),
                None => return Err("an empty option (`?&` or `&&`)".into()),
            };
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(format!("option `{key}` is given twice"));
            }
            pairs.push((key, value));
        }
        Ok(Options(pairs))
    }

    /// Takes the flag `key` (written bare, without a value): whether it was given.
    fn take_flag(&mut self, key: &str) -> Result<bool, String> {
        let Some(at) = self.0.iter().position(|(k, _)| k == key) else {
            return Ok(false);
        };
        match self.0.remove(at) {
            (_, None) => Ok(true),
            (_, Some(v)) => Err(format!(
                "option `{key}` is a flag, written without a value (`?{key}`), not `{key}={v}`"
            )),
        }
    }

    /// Takes option `key` as a positive count, if given.
    fn take_count(&mut self, key: &str) -> Result<Option<usize>, String> {
        let Some(at) = self.0.iter().position(|(k, _)| k == key) else {
            return Ok(None);
        };
        let (_, value) = self.0.remove(at);
        let Some(value) = value else {
            return Err(format!("option `{key}` takes a value: `{key}=N`"));
        };
        match value.parse::<usize>() {
            Ok(n) if n > 0 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
            _ => Err(format!(
                "option `{key}` must be a positive integer, not `{value}`"
            )),
        }
    }

    /// Refuses options no transport took.
    fn finish(self, scheme: &str) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((key, _)) => Err(format!("`{scheme}:` has no option `{key}`")),
        }
    }
}

fn nonempty(s: String, what: &str) -> Result<String, String> {
    if s.is_empty() {
        Err(format!("{what} is missing after the `:`"))
    } else {
        Ok(s)
    }
}

/// A System V key: a non-zero `i32`, in decimal (with an optional `-`) or `0x` hex.
fn parse_key(s: &str) -> Result<i32, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok().map(|k| k as i32)
        }
        Some(_) => None,
        None => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<i32>().ok()
            } else {
                None
            }
        }
    };
    match parsed {
        Some(0) => Err("key 0 is IPC_PRIVATE, which names no queue: use another key".into()),
        Some(k) => Ok(k),
        None => Err(format!(
            "`{s}` is not a System V key (a non-zero 32-bit integer, decimal or 0x hex)"
        )),
    }
}

/// `HOST:PORT`, with an IPv6 host in brackets; the host is returned still escaped.
fn parse_host_port(s: &str) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, port)) = rest.split_once("]:") else {
            return Err("an IPv6 host is written [ADDRESS]:PORT".into());
        };
        if !host.contains(':') {
            return Err(format!(
                "`[{host}]` is not an IPv6 address: write it without brackets"
            ));
        }
        (host, port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err("tcp: takes HOST:PORT".into());
        };
        if host.contains(':') {
            return Err("an IPv6 host is written in brackets: tcp:[ADDRESS]:PORT".into());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("the host is missing: tcp:HOST:PORT".into());
    }
    match port.parse::<u16>() {
        // Port 0 binds a port the system picks, which an endpoint could not tell anyone.
        Ok(0) => Err(
            "port 0 names no port a peer could connect to: give one (1 to 65535), or bind \
             `tcp::Listener::bind(\"HOST:0\")` and read its `local_addr()`"
                .into(),
        ),
        Ok(p) if port.bytes().all(|b| b.is_ascii_digit()) => Ok((host, p)),
        _ => Err(format!("`{port}` is not a port (1 to 65535)")),
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = [bytes.next(), bytes.next()];
        let value = match hex {
            [Some(h), Some(l)] => std::str::from_utf8(&[h, l])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match value {
            Some(v) => out.push(v),
            None => return Err("`%` must be followed by two hex digits (`%25` is `%`)".into()),
        }
    }
    String::from_utf8(out).map_err(|_| "an escape decodes to bytes that are not UTF-8".into())
}

/// Escapes what would not parse back as itself: `%`, `?`, `&`, `[`, `]`, and control
/// characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | '?' | '&' | '[' | ']' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_control() => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Endpoint {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        s.parse::<Endpoint>().unwrap_err().to_string()
    }

    #[test]
    fn every_transport_parses_and_prints_back() {
        for s in [
            "pipe:",
            "fifo:/tmp/app.fifo",
            "shm:orders",
            "shm:orders?capacity=1024",
            "mq:/jobs?capacity=10",
            "sysv:4242",
            "sysv:-7",
            "unix:/run/app.sock",
            "unix-seqpacket:/run/app.seq",
            "tcp:127.0.0.1:7000",
            "tcp:localhost:80",
            "tcp:[::1]:7000",
            "pipe:?foreign",
            "fifo:/tmp/app.fifo?foreign",
            "mq:/jobs?capacity=10&foreign",
            "sysv:4242?foreign",
            "unix:/run/app.sock?foreign",
            "tcp:127.0.0.1:7000?foreign",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
        assert_eq!(ok("sysv:0x10"), Endpoint::Sysv { key: 16 });
        assert_eq!(
            ok("mq:/q?foreign&capacity=3"),
            Endpoint::Foreign(Box::new(Endpoint::Mq {
                name: "/q".into(),
                capacity: Some(3)
            }))
        );
        assert_eq!(
            ok("tcp:[fe80::1]:9"),
            Endpoint::Tcp {
                host: "fe80::1".into(),
                port: 9
            }
        );
    }

    #[test]
    fn escapes_round_trip() {
        let e = Endpoint::Fifo {
            path: "/tmp/a?b%c&d".into(),
        };
        assert_eq!(e.to_string(), "fifo:/tmp/a%3Fb%25c%26d");
        assert_eq!(ok(&e.to_string()), e);
    }

    #[test]
    fn mistakes_are_typed_errors_that_show_the_grammar() {
        for (s, says) in [
            ("orders", "no `:`"),
            ("shmem:orders", "unknown transport `shmem`"),
            ("shm:", "a name is missing"),
            ("shm:x?capacity=0", "positive integer"),
            ("shm:x?capacity=1&capacity=2", "given twice"),
            ("shm:x?size=4", "has no option `size`"),
            ("mq:jobs", "starts with `/`"),
            ("sysv:0", "IPC_PRIVATE"),
            ("sysv:abc", "not a System V key"),
            ("tcp:localhost", "HOST:PORT"),
            ("tcp:::1:80", "in brackets"),
            ("tcp:[::1]", "[ADDRESS]:PORT"),
            ("tcp::80", "host is missing"),
            ("tcp:h:70000", "not a port"),
            ("tcp:127.0.0.1:0", "port 0 names no port"),
            ("fifo:%zz", "two hex digits"),
            ("pipe:x", "takes nothing"),
            ("shm:x?foreign", "has no option `foreign`"),
            ("mq:/q?foreign=1", "is a flag"),
            ("mq:/q?capacity", "takes a value"),
            ("mq:/q?foreign&foreign", "given twice"),
        ] {
            let text = err(s);
            assert!(text.contains(says), "{s}: {text}");
            assert!(text.contains("tcp:HOST:PORT"), "{s}: {text}");
        }
    }
}
