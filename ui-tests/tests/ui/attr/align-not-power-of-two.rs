#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(align = 6)]
struct Tick {
    at: u64,
}

fn main() {}
