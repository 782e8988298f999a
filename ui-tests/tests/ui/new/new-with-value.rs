#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new = "make")]
struct Tick {
    at: u64,
}

fn main() {}
