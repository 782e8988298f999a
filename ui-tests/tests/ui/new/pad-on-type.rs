#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new, pad)]
struct Tick {
    at: u32,
    spare: u32,
}

fn main() {}
