// A padding field is zeroed, so its type must accept all-zero bytes: `Side` has no
// variant 0.
#[derive(Clone, Copy, ipc::Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new)]
struct Order {
    qty: u8,
    #[ipc(pad)]
    side: Side,
}

fn main() {}
