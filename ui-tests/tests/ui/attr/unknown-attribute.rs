#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(size = 8, version = 2)]
struct Tick {
    at: u64,
}

fn main() {}
