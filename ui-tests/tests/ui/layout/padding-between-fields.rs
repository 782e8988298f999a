#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Order {
    side: u8,
    price: u64,
}

fn main() {}
