#[derive(Clone, Copy, ipc::Message)]
#[repr(u8, align(4))]
enum Side {
    Buy,
    Sell,
}

fn main() {}
