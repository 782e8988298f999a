#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Tick {
    #[ipc(name = "time")]
    at: u64,
}

fn main() {}
