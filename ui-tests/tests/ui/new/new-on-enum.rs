#[derive(Clone, Copy, ipc::Message)]
#[repr(u8)]
#[ipc(new)]
enum Side {
    Buy = 1,
    Sell = 2,
}

fn main() {}
