#[derive(Clone, Copy, ipc::Message)]
#[repr(usize)]
enum Side {
    Buy,
    Sell,
}

fn main() {}
