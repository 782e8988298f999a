//! `ipc tail ENDPOINT`: prints the messages of a channel as they arrive, decoded from the
//! schema the channel carries, without the code of the programs that use it.
//!
//! A topic is subscribed to: every subscriber sees every sample, so tailing one takes
//! nothing from anyone. An MPSC channel has one receiver, and receiving a message takes
//! it out of the channel: `--take` says that this is meant (the channel's own receiver
//! must be gone, and what `ipc tail` prints nobody else will receive).

use std::io::Write;
use std::process::ExitCode;

use ipc::schema::AnySample;
use ipc::Error;

use crate::{trust, Failure};

/// How each message is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One line of JSON per message.
    Json,
    /// One line per message, as `#[derive(Debug)]` prints the Rust value.
    Line,
}

/// What `ipc tail` was asked for.
pub(crate) struct Tail<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) format: Format,
    pub(crate) count: Option<u64>,
    pub(crate) take: bool,
    /// The permission bits trusted in the channel (`--mode`).
    pub(crate) mode: u32,
}

/// An end that receives messages of any type.
trait Source {
    /// The next message; `Error::Empty` when none waits (with `wait` false).
    fn next(&mut self, wait: bool) -> ipc::Result<AnySample<'_>>;

    /// True if the error `next` returned took one message off the source, so that the
    /// tail may say it and go on: a queue's message that is no message of its schema (a
    /// raw writer's, of another size) is consumed. A channel or topic whose memory is
    /// corrupt would say so again at once.
    fn consumed(e: &Error) -> bool {
        let _ = e;
        false
    }
}

impl Source for ipc::shm::AnySubscriber {
    fn next(&mut self, wait: bool) -> ipc::Result<AnySample<'_>> {
        if wait {
            self.recv()
        } else {
            self.try_recv()
        }
    }
}

impl Source for ipc::mq::AnyReceiver {
    fn next(&mut self, wait: bool) -> ipc::Result<AnySample<'_>> {
        if wait {
            self.recv()
        } else {
            self.try_recv()
        }
    }

    fn consumed(e: &Error) -> bool {
        matches!(e, Error::Corrupt(_))
    }
}

impl Source for ipc::shm::AnyReceiver {
    fn next(&mut self, wait: bool) -> ipc::Result<AnySample<'_>> {
        if wait {
            self.recv()
        } else {
            self.try_recv()
        }
    }
}

pub(crate) fn run(t: &Tail<'_>) -> Result<ExitCode, Failure> {
    let (scheme, name) = t.endpoint.split_once(':').ok_or_else(|| {
        format!(
            "`{}` is not an endpoint: write shm:NAME or mq:/NAME",
            t.endpoint
        )
    })?;
    // A request to stop (Ctrl-C, SIGTERM) ends a wait with `Error::Shutdown`: the end
    // then leaves as it should, instead of dying attached.
    ipc::signal::shutdown_on(&[ipc::signal::Signal::SIGINT, ipc::signal::Signal::SIGTERM])
        .map_err(|e| e.to_string())?;
    match scheme {
        "shm" => {}
        "mq" if !t.take => {
            return Err(format!(
                "`{}` is a queue: receiving takes each message out of it, so its receivers \
                 would never get what `ipc tail` prints; add --take to drain it",
                t.endpoint
            ))
        }
        "mq" => {
            let opts = ipc::mq::Options::new().mode(t.mode);
            let rx = ipc::mq::AnyReceiver::open_with(name, opts)
                .map_err(|e| trust::open_failed(t.endpoint, &e, t.mode))?;
            return pump(rx, t);
        }
        _ => {
            return Err(format!(
                "`{}`: `ipc tail` reads shared-memory topics and channels (shm:NAME) and POSIX \
                 queues (mq:/NAME)",
                t.endpoint
            ))
        }
    }
    let found = ipc::shm::list()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            format!(
                "no channel `{}` on this machine (see `ipc list`)",
                t.endpoint
            )
        })?;
    let opts = ipc::shm::Options::new().mode(t.mode);
    match found.pattern {
        ipc::shm::Pattern::Topic => {
            let sub = ipc::shm::AnySubscriber::open_with(name, opts)
                .map_err(|e| trust::open_failed(t.endpoint, &e, t.mode))?;
            pump(sub, t)
        }
        ipc::shm::Pattern::Channel if !t.take => Err(format!(
            "`{}` is a channel: receiving takes each message out of it, so its own receiver \
             would never get what `ipc tail` prints; add --take to drain it (its receiver \
             must be gone: a channel has one)",
            t.endpoint
        )),
        ipc::shm::Pattern::Channel => {
            let rx = ipc::shm::AnyReceiver::open_with(name, opts).map_err(|e| match e {
                Error::Busy { .. } => format!(
                    "`{}` has a receiver: a channel has one, and only once it is gone can \
                     `ipc tail --take` drain it",
                    t.endpoint
                ),
                e => trust::open_failed(t.endpoint, &e, t.mode),
            })?;
            pump(rx, t)
        }
        _ => Err(format!(
            "`{}` holds no stream of messages (a shared value, or a segment of another \
             kind): `ipc show {}` prints what is known of it",
            t.endpoint, t.endpoint
        )),
    }
}

/// Prints what `src` receives until it ends, `count` messages are printed, or a request
/// to stop comes.
fn pump<S: Source>(mut src: S, t: &Tail<'_>) -> Result<ExitCode, Failure> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let mut line = String::new();
    while t.count.is_none_or(|n| printed < n) {
        // Print as fast as messages come, but never leave one unprinted while waiting.
        let mut got = src.next(false);
        if let Err(Error::Empty) = got {
            out.flush().unwrap_or_else(|e| crate::output_failed(e));
            got = src.next(true);
        }
        match got {
            Ok(sample) => {
                line.clear();
                match render(&sample, t.format, &mut line) {
                    Ok(()) => writeln!(out, "{line}").unwrap_or_else(|e| crate::output_failed(e)),
                    // Said and skipped: one bad message does not end the tail.
                    Err(e) => {
                        out.flush().unwrap_or_else(|e| crate::output_failed(e));
                        eprintln!("ipc: {}: a message does not decode: {e}", t.endpoint);
                    }
                }
                printed += 1;
            }
            Err(Error::Lagged(n)) => {
                out.flush().unwrap_or_else(|e| crate::output_failed(e));
                eprintln!(
                    "ipc: {}: missed {n} messages (the publisher overtook this reader)",
                    t.endpoint
                );
            }
            Err(Error::Disconnected | Error::Shutdown) => break,
            // Said and skipped, as a message that does not decode.
            Err(e) if S::consumed(&e) => {
                out.flush().unwrap_or_else(|e| crate::output_failed(e));
                eprintln!("ipc: {}: {e}", t.endpoint);
                printed += 1;
            }
            Err(e) => return Err(format!("{}: {e}", t.endpoint)),
        }
    }
    out.flush().unwrap_or_else(|e| crate::output_failed(e));
    Ok(ExitCode::SUCCESS)
}

/// Decodes one message (a slice: its elements) and writes it in `format`.
fn render(
    sample: &AnySample<'_>,
    format: Format,
    out: &mut String,
) -> Result<(), ipc::schema::ValueError> {
    let value = sample.decode()?;
    match format {
        Format::Json => out.push_str(&value.to_json()),
        Format::Line => {
            use std::fmt::Write as _;
            let _ = write!(out, "{value}");
        }
    }
    Ok(())
}
