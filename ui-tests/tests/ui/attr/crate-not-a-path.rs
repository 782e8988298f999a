#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(crate = "not a path")]
struct Tick {
    at: u64,
}

fn main() {}
