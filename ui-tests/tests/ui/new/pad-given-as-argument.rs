// Padding is not a parameter of the constructor: it is zeroed.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
#[ipc(new)]
struct Order {
    id: u64,
    qty: u32,
    _pad: [u8; 4],
}

fn main() {
    let order = Order::new(1, 3, [0; 4]);
    println!("{order:?}");
}
