#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new)]
struct Tick {
    at: u32,
    #[ipc(padding)]
    _spare: u32,
}

fn main() {}
