#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Order {
    price: u64,
    qty: u32,
}

fn main() {}
