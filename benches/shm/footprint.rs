//! The footprint table of the shm bench: what a channel reserves for a type and a
//! capacity (`Options::footprint`), against the bytes of the messages it can hold, and how
//! long `create` takes per MiB (every page is allocated at create).

use super::*;

/// Creates and drops the channel `rounds` times; the median time of one create, in
/// seconds. The drop (unmap and unlink) is not timed.
fn create_time<T: ipc::Message>(opts: &Options, rounds: usize) -> f64 {
    let name = unique(&format!("footprint{}", std::mem::size_of::<T>()));
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let rx = Receiver::<T>::create(&name, opts.clone()).expect("create");
            let t = start.elapsed().as_secs_f64();
            drop(rx);
            t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One row: `T` at `opts`' capacity (the default if none is set).
fn row<T: ipc::Message>(label: &str, opts: Options) {
    let slots = opts.capacity_for::<T>();
    let bytes = opts.footprint::<T>().expect("footprint");
    let payload = slots * std::mem::size_of::<T>();
    let mib = bytes as f64 / (1 << 20) as f64;
    // Big channels take long to create: fewer rounds.
    let rounds = if bytes > 64 << 20 { 3 } else { 11 };
    let t = create_time::<T>(&opts, rounds);
    // Below a MiB the fixed cost of creating a segment (open, lock, map, header) is
    // most of it: no rate per MiB.
    let per_mib = if mib >= 1.0 {
        format!("{:.2} ms", t * 1e3 / mib)
    } else {
        "-".to_string()
    };
    println!(
        "{:<10} {:>8} {:>12} {:>12} {:>9.2}x {:>12} {:>12}",
        label,
        slots,
        human_bytes(bytes),
        human_bytes(payload),
        bytes as f64 / payload as f64,
        human_time(t),
        per_mib,
    );
}

fn human_time(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

fn human_bytes(b: usize) -> String {
    match b {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// The footprint table: four message sizes at the default capacity (64 slots, or fewer
/// so that the ring stays within `DEFAULT_RING_BYTES`) and at larger capacities.
pub(crate) fn footprint_table() {
    println!(
        "\nfootprint: what a channel reserves (header + slots, all allocated at create), \
         beside the bytes of the messages it holds, and the median create time"
    );
    println!(
        "{:<10} {:>8} {:>12} {:>12} {:>10} {:>12} {:>13}",
        "message", "slots", "reserved", "messages", "ratio", "create", "per MiB"
    );
    row::<u64>("8 B", Options::new());
    row::<u64>("8 B", Options::new().capacity(1024));
    row::<u64>("8 B", Options::new().capacity(65536));
    row::<[u8; 64]>("64 B", Options::new());
    row::<[u8; 64]>("64 B", Options::new().capacity(1024));
    row::<[u8; 4096]>("4 KiB", Options::new());
    row::<[u8; 4096]>("4 KiB", Options::new().capacity(1024));
    row::<[u8; 4096]>("4 KiB", Options::new().capacity(65536));
    row::<[u8; 4 << 20]>("4 MiB", Options::new());
    row::<[u8; 4 << 20]>("4 MiB", Options::new().capacity(64));
}
