#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(size = 8)]
#[ipc(size = 8)]
struct Tick {
    at: u64,
}

fn main() {}
