#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
enum Side {
    Buy,
    Sell,
}

fn main() {}
