#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new)]
struct Tick(u64, u32, [u8; 4]);

fn main() {}
