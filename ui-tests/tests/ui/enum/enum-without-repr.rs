#[derive(Clone, Copy, ipc::Message)]
enum Side {
    Buy,
    Sell,
}

fn main() {}
