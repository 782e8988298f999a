//! The few raw calls the socket modules need that `nix` does not wrap the way we need:
//! `recvmsg` that keeps the descriptors it received even when `MSG_CTRUNC` says some were
//! lost, and `poll` with a deadline that retries `EINTR` with the remaining time.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::Result;

pub(crate) use crate::deadline::Wait;

impl Wait {
    /// `MSG_DONTWAIT` unless the call may block in the kernel.
    pub(crate) fn msg_flags(self) -> MsgFlags {
        match self {
            // A blocking call cannot be woken by a shutdown request; once one is armed,
            // calls do not block and waits go through `ready`, which polls for it too.
            Wait::Forever if !crate::shutdown::shutdown_armed() => MsgFlags::empty(),
            _ => MsgFlags::MSG_DONTWAIT,
        }
    }
}

/// Waits until `fd` is ready for `events` or `wait` runs out. Returns `false` when it ran
/// out. `Wait::Forever` and `Wait::Now` return `true` at once: the caller's blocking (or
/// non-blocking) call does the waiting. `EINTR` is retried with the remaining time.
pub(crate) fn ready(fd: BorrowedFd<'_>, events: PollFlags, wait: Wait) -> Result<bool> {
    let Wait::Until(deadline, timeout) = wait else {
        return Ok(true);
    };
    // The crate's one poll loop: deadline, EINTR, and the shutdown eventfd.
    Ok(crate::fd::wait_ready(fd, events, &crate::fd::Wait::Until(deadline, timeout))?.is_some())
}

/// After a non-blocking call said `EAGAIN`: `Ok(())` to try again once `fd` is ready
/// for `events` (waiting as `wait` allows), or the error for a wait that ran out
/// (`Empty`/`Full` for [`Wait::Now`], `Timeout` at the deadline). Calls are tried before
/// polling, so a call that can complete costs no `poll`.
pub(crate) fn again(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    wait: Wait,
    sending: bool,
) -> Result<()> {
    match wait {
        Wait::Now => Err(wait.expired(sending)),
        Wait::Forever => {
            // A blocking socket does not say EAGAIN unless someone made it non-blocking:
            // wait for it rather than spin.
            ready(fd, events, Wait::timeout(Duration::from_secs(3600)))?;
            Ok(())
        }
        Wait::Until(..) if ready(fd, events, wait)? => Ok(()),
        Wait::Until(..) => Err(wait.expired(sending)),
    }
}

/// Connects the non-blocking socket `fd` to `addr`, waiting at most as `wait` allows,
/// and leaves `fd` blocking (bounded calls on the connection use `poll`).
///
/// A TCP connect in progress (`EINPROGRESS`) is waited for in `poll` (with the shutdown
/// eventfd) and its result read from `SO_ERROR`. A Unix socket whose listener's backlog is
/// full says `EAGAIN` and cannot be polled for room (an unconnected Unix socket polls as
/// hung up), so the connect is retried after sleeps of 1 ms, doubling up to 20 ms, with a
/// check for shutdown before each. The inner result is the `connect(2)` error, for the
/// caller to name.
///
/// # Errors
///
/// [`Error::Timeout`](crate::Error::Timeout) when `wait` runs out,
/// [`Error::Shutdown`](crate::Error::Shutdown) once shutdown is requested,
/// [`Error::Io`](crate::Error::Io) if `poll`, `getsockopt` or `fcntl` fails.
pub(crate) fn connect(
    fd: BorrowedFd<'_>,
    addr: &dyn nix::sys::socket::SockaddrLike,
    wait: Wait,
) -> Result<nix::Result<()>> {
    let mut nap = Duration::from_millis(1);
    let connected = loop {
        match nix::sys::socket::connect(fd.as_raw_fd(), addr) {
            Ok(()) | Err(Errno::EISCONN) => break Ok(()),
            // Interrupted: a TCP connect goes on in the background; look again.
            Err(Errno::EINTR) => crate::shutdown::check_shutdown()?,
            Err(Errno::EINPROGRESS | Errno::EALREADY) => {
                if crate::fd::wait_ready(fd, PollFlags::POLLOUT, &wait)?.is_none() {
                    return Err(wait.expired(true));
                }
                let err = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::SocketError)
                    .map_err(|e| crate::Error::sys("getsockopt(SO_ERROR)", e))?;
                break if err == 0 {
                    Ok(())
                } else {
                    Err(Errno::from_raw(err))
                };
            }
            // A Unix listener's backlog is full.
            Err(Errno::EAGAIN) => {
                crate::shutdown::check_shutdown()?;
                match wait.left() {
                    Some(left) if left.is_zero() => return Err(wait.expired(true)),
                    left => std::thread::sleep(left.map_or(nap, |l| nap.min(l))),
                }
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(e) => break Err(e),
        }
    };
    if connected.is_ok() {
        let fl = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(|e| crate::Error::sys("fcntl", e))?;
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) - nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(fl))
            .map_err(|e| crate::Error::sys("fcntl", e))?;
    }
    Ok(connected)
}

/// Sends `bufs` (and `fds`, attached to the first byte) with `MSG_NOSIGNAL`, so a dead
/// peer is `EPIPE`, never `SIGPIPE`.
pub(crate) fn send(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[RawFd],
    flags: MsgFlags,
) -> nix::Result<usize> {
    let flags = flags | MsgFlags::MSG_NOSIGNAL;
    if let ([buf], []) = (bufs, fds) {
        return nix::sys::socket::send(fd.as_raw_fd(), buf, flags);
    }
    if fds.is_empty() {
        sendmsg::<()>(fd.as_raw_fd(), bufs, &[], flags, None)
    } else {
        sendmsg::<()>(
            fd.as_raw_fd(),
            bufs,
            &[ControlMessage::ScmRights(fds)],
            flags,
            None,
        )
    }
}

/// What one `recvmsg` brought.
pub(crate) struct Received {
    /// Data bytes (the datagram's full length if `MSG_TRUNC` was passed in flags).
    pub len: usize,
    /// Descriptors that arrived with them (`SCM_RIGHTS`), close-on-exec.
    pub fds: Vec<OwnedFd>,
    /// `MSG_CTRUNC`: more descriptors were sent than fitted; the kernel closed the rest.
    pub fds_lost: bool,
    /// `MSG_TRUNC`: the datagram was longer than the buffer.
    pub truncated: bool,
}

/// A control-message buffer with room for `max_fds` descriptors and no more, aligned for
/// `cmsghdr`: the kernel closes the descriptors of a read beyond that (`MSG_CTRUNC`).
pub(crate) struct CmsgBuf {
    space: Vec<u64>,
    len: usize,
}

impl CmsgBuf {
    pub(crate) fn new(max_fds: usize) -> CmsgBuf {
        let bytes = (max_fds.max(1) * size_of::<RawFd>()) as libc::c_uint;
        // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes from their argument.
        let (space, len) = unsafe { (libc::CMSG_SPACE(bytes), libc::CMSG_LEN(bytes)) };
        CmsgBuf {
            space: vec![0; (space as usize).div_ceil(8)],
            // The length offered is the message's own, not its padded space: with an odd
            // `max_fds` the padding would fit one descriptor more.
            len: len as usize,
        }
    }
}

/// `recvmsg(2)` into `buf`, with `MSG_CMSG_CLOEXEC` added to `flags`. Every descriptor the
/// kernel installed is returned as an [`OwnedFd`], including when `MSG_CTRUNC` reports
/// that others did not fit (those the kernel closed).
pub(crate) fn recv(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    cmsg: &mut CmsgBuf,
    flags: MsgFlags,
) -> nix::Result<Received> {
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    }];
    // SAFETY: the one iovec covers `buf`, writable for its length and borrowed mutably
    // for the whole call.
    unsafe { recv_iov(fd, &mut iov, cmsg, flags) }
}

/// [`recv`] scattering the data over `iov` (the kernel fills them in order).
///
/// # Safety
///
/// Each iovec must point at `iov_len` bytes that are writable for the duration of the call
/// and that nothing else reads or writes meanwhile (they may be uninitialised: the kernel
/// only writes them).
pub(crate) unsafe fn recv_iov(
    fd: BorrowedFd<'_>,
    iov: &mut [libc::iovec],
    cmsg: &mut CmsgBuf,
    flags: MsgFlags,
) -> nix::Result<Received> {
    // SAFETY: an all-zero msghdr is a valid (empty) value of this plain C struct.
    let mut mhdr: libc::msghdr = unsafe { std::mem::zeroed() };
    mhdr.msg_iov = iov.as_mut_ptr();
    mhdr.msg_iovlen = iov.len() as _;
    mhdr.msg_control = cmsg.space.as_mut_ptr().cast();
    mhdr.msg_controllen = cmsg.len as _;
    let flags = (flags | MsgFlags::MSG_CMSG_CLOEXEC).bits();
    // SAFETY: `mhdr` points at the caller's iovecs (writable memory, as the caller
    // promises) and at `cmsg.len` writable bytes of `cmsg.space`, all alive for the call;
    // the kernel writes no further than those lengths.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut mhdr, flags) };
    let len = Errno::result(n)? as usize;
    let mut fds = Vec::new();
    // SAFETY: `mhdr` was filled by a successful recvmsg; CMSG_FIRSTHDR returns null or a
    // pointer to a header inside `cmsg.space` (msg_controllen was updated by the kernel to
    // the bytes it wrote).
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&mhdr) };
    while !c.is_null() {
        // SAFETY: `c` is non-null and points at a complete cmsghdr inside the control
        // buffer (CMSG_FIRSTHDR/CMSG_NXTHDR check it fits in msg_controllen); the buffer
        // is 8-aligned, as cmsghdr requires.
        let hdr = unsafe { &*c };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN only computes a size.
            let head = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (hdr.cmsg_len as usize).saturating_sub(head) / size_of::<RawFd>();
            // SAFETY: CMSG_DATA points just past the header of `c`, where the kernel put
            // `count` descriptors (cmsg_len covers them, inside the buffer).
            let data = unsafe { libc::CMSG_DATA(c) }.cast::<RawFd>();
            for i in 0..count {
                // SAFETY: `i < count`, so the read stays inside this control message;
                // the data may be unaligned for `RawFd`, hence read_unaligned.
                let raw = unsafe { data.add(i).read_unaligned() };
                if raw >= 0 {
                    // SAFETY: the kernel just installed `raw` in our table for us
                    // (SCM_RIGHTS), and nothing else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        }
        // SAFETY: `c` is a valid header of `mhdr`'s control buffer; CMSG_NXTHDR returns
        // the next one or null.
        c = unsafe { libc::CMSG_NXTHDR(&mhdr, c) };
    }
    let out = MsgFlags::from_bits_truncate(mhdr.msg_flags);
    Ok(Received {
        len,
        fds,
        fds_lost: out.contains(MsgFlags::MSG_CTRUNC),
        truncated: out.contains(MsgFlags::MSG_TRUNC),
    })
}
