#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(size = 16)]
struct Tick {
    at: u64,
    price: f32,
    qty: u32,
    venue: u32,
    _pad: [u8; 4],
}

fn main() {}
