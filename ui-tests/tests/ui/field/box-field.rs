#[derive(Clone, ipc::Message)]
#[repr(C)]
struct Tree {
    value: u64,
    left: Box<Tree>,
}

fn main() {}
