#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Tick {
    at: u32,
    #[ipc(pad)]
    reserved: u32,
}

fn main() {}
