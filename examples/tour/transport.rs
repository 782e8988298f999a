//! Each transport's two ends: made in the parent (`parent`), opened in the child
//! (`child`), and measured (`run`).

use std::time::Duration;

use ipc::Result;

use crate::guard::{path_arg, unique, MqUnlink, SysvRemove, TempDir};
use crate::hand::{self, Round};
use crate::link::{Link, Pair, SysvLink};
use crate::measure::{measure, serve, Figures, Payload};
use crate::peer::{spawn, Peer};

/// One row of the table. Whatever is made here is declared before the children, so that
/// an early return drops (kills and reaps) the children first and removes it afterwards.
pub fn parent<const N: usize>(transport: &str) -> Result<Figures> {
    let size = size_of::<Payload<N>>();
    let child = |endpoint: &[String], stdio| spawn("child", transport, size, endpoint, stdio);
    match transport {
        "shm" => {
            let (ping, pong) = (
                unique(&format!("ping{size}")),
                unique(&format!("pong{size}")),
            );
            // Measurement traffic: nothing to keep for a late reader if the run is
            // interrupted (the default keeps a departed sender's unread messages for 60 s).
            let opts = || {
                ipc::shm::Options::new()
                    .capacity(256)
                    .linger(Duration::ZERO)
            };
            let tx = ipc::shm::Sender::<Payload<N>>::create(&ping, opts())?;
            let rx = ipc::shm::Receiver::<Payload<N>>::create(&pong, opts())?;
            let peer = child(&[ping, pong], None);
            run(peer, Pair { tx, rx }, None, transport)
        }
        "topic" => {
            let (ping, pong) = (
                unique(&format!("tping{size}")),
                unique(&format!("tpong{size}")),
            );
            // A subscriber receives what is published after it joins: the history covers
            // a ping sent before the child has subscribed.
            let opts = || ipc::shm::Options::new().capacity(256).history(8);
            let tx = ipc::shm::Publisher::<Payload<N>>::create(&ping, opts())?;
            let rx = ipc::shm::Subscriber::<Payload<N>>::open_or_create(&pong, opts())?;
            let peer = child(&[ping, pong], None);
            run(peer, Pair { tx, rx }, None, transport)
        }
        "pipe" => {
            let (mine, theirs) = ipc::pipe::duplex::<Payload<N>, Payload<N>>()?;
            let (tx, rx) = theirs.into_parts();
            let peer = child(&[], Some((rx.into(), tx.into())));
            let by_hand = hand::pipe::<N>()?;
            run(peer, mine, Some(by_hand), transport)
        }
        "fifo" => {
            let dir = TempDir::new();
            let (down, up, hand_down, hand_up) = (
                ipc::fifo::create(dir.join("down"))?,
                ipc::fifo::create(dir.join("up"))?,
                ipc::fifo::create(dir.join("hand-down"))?,
                ipc::fifo::create(dir.join("hand-up"))?,
            );
            let peer = child(&[path_arg(down.path()), path_arg(up.path())], None);
            let open = Duration::from_secs(10);
            let tx = ipc::fifo::Sender::<Payload<N>>::open_timeout(down.path(), open)?;
            let rx = ipc::fifo::Receiver::<Payload<N>>::open_timeout(up.path(), open)?;
            let by_hand = hand::fifo::<N>(hand_down.path(), hand_up.path())?;
            run(peer, Pair { tx, rx }, Some(by_hand), transport)
        }
        "unix" => {
            let dir = TempDir::new();
            let listener = ipc::socket::Listener::<Payload<N>>::bind(dir.join("sock"))?;
            let peer = child(&[path_arg(listener.path())], None);
            let stream = listener.accept()?;
            let by_hand = hand::unix::<N>(&dir.join("hand-sock"))?;
            run(peer, stream, Some(by_hand), transport)
        }
        "seqpacket" => {
            let dir = TempDir::new();
            let listener = ipc::socket::SeqPacketListener::<Payload<N>>::bind(dir.join("sock"))?;
            let peer = child(&[path_arg(listener.path())], None);
            let conn = listener.accept()?;
            run(peer, conn, None, transport)
        }
        "tcp" => {
            let listener = ipc::tcp::Listener::<Payload<N>>::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?.to_string();
            let peer = child(&[addr], None);
            let stream = listener.accept()?;
            let by_hand = hand::tcp::<N>()?;
            run(peer, stream, Some(by_hand), transport)
        }
        "mq" => {
            let (down, up) = (
                format!("/{}", unique(&format!("down{size}"))),
                format!("/{}", unique(&format!("up{size}"))),
            );
            let opts = || ipc::mq::Options::new().capacity(10);
            let tx = ipc::mq::Sender::<Payload<N>>::create(&down, opts())?;
            let _unlink_down = MqUnlink(down.clone());
            let rx = ipc::mq::Receiver::<Payload<N>>::create(&up, opts())?;
            let _unlink_up = MqUnlink(up.clone());
            let peer = child(&[down, up], None);
            run(peer, Pair { tx, rx }, None, transport)
        }
        "sysv" => {
            // One queue, two message types: 1 flows to the child, 2 back.
            let opts = ipc::sysv::Options::new();
            let rx = ipc::sysv::Receiver::<Payload<N>>::create(ipc::sysv::Key::Private, opts)?;
            let _remove = SysvRemove(rx.id());
            let tx = ipc::sysv::Sender::<Payload<N>>::from_id(rx.id())?.with_type(1)?;
            let peer = child(&[rx.id().to_string()], None);
            run(peer, SysvLink { tx, rx, mtype: 2 }, None, transport)
        }
        other => panic!("unknown transport {other}"),
    }
}

/// Measures over `link` against `child`, and over the hand-written stream if there is
/// one. When all went well the links are closed and the children waited for; otherwise
/// the children are killed and reaped first, then the links are dropped, so that this
/// process is the last user of what it made and removes it.
fn run<const N: usize>(
    child: Peer,
    mut link: impl Link<Payload<N>>,
    by_hand: Option<(Peer, Box<dyn Round>)>,
    transport: &str,
) -> Result<Figures> {
    let (hand_child, mut hand_stream) = by_hand.unzip();
    match measure(&mut link, hand_stream.as_deref_mut()) {
        Ok(figures) => {
            drop(link);
            child.finish(transport)?;
            drop(hand_stream);
            if let Some(hand_child) = hand_child {
                hand_child.finish(transport)?;
            }
            Ok(figures)
        }
        Err(e) => {
            drop((child, hand_child));
            drop((link, hand_stream));
            Err(e)
        }
    }
}

/// The child's side of [`parent`]: opens the other ends and serves the measurements.
pub fn child<const N: usize>(transport: &str, endpoint: &[String]) -> Result<()> {
    match transport {
        "shm" => {
            let rx = ipc::shm::Receiver::<Payload<N>>::open(&endpoint[0])?;
            let no_linger = ipc::shm::Options::new().linger(Duration::ZERO);
            let tx = ipc::shm::Sender::<Payload<N>>::open_with(&endpoint[1], no_linger)?;
            serve(&mut Pair { tx, rx })
        }
        "topic" => {
            let rx = ipc::shm::Subscriber::<Payload<N>>::open(&endpoint[0])?;
            let tx = ipc::shm::Publisher::<Payload<N>>::open(&endpoint[1])?;
            serve(&mut Pair { tx, rx })
        }
        "pipe" => {
            let tx = ipc::pipe::Sender::<Payload<N>>::stdout()?;
            let rx = ipc::pipe::Receiver::<Payload<N>>::stdin()?;
            serve(&mut ipc::pipe::Duplex::from_parts(tx, rx))
        }
        "fifo" => {
            let open = Duration::from_secs(10);
            let rx = ipc::fifo::Receiver::<Payload<N>>::open_timeout(&endpoint[0], open)?;
            let tx = ipc::fifo::Sender::<Payload<N>>::open_timeout(&endpoint[1], open)?;
            serve(&mut Pair { tx, rx })
        }
        "unix" => serve(&mut ipc::socket::Stream::<Payload<N>>::connect(
            &endpoint[0],
        )?),
        "seqpacket" => serve(&mut ipc::socket::SeqPacket::<Payload<N>>::connect(
            &endpoint[0],
        )?),
        "tcp" => serve(&mut ipc::tcp::Stream::<Payload<N>>::connect(
            endpoint[0].as_str(),
        )?),
        "mq" => {
            let rx = ipc::mq::Receiver::<Payload<N>>::open(&endpoint[0])?;
            let tx = ipc::mq::Sender::<Payload<N>>::open(&endpoint[1])?;
            serve(&mut Pair { tx, rx })
        }
        "sysv" => {
            let id: i32 = endpoint[0].parse().expect("a queue id");
            let rx = ipc::sysv::Receiver::<Payload<N>>::from_id(id)?;
            let tx = ipc::sysv::Sender::<Payload<N>>::from_id(id)?.with_type(2)?;
            serve(&mut SysvLink { tx, rx, mtype: 1 })
        }
        other => panic!("unknown transport {other}"),
    }
}
