#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new)]
#[ipc(size = 8, new)]
struct Tick {
    at: u64,
}

fn main() {}
