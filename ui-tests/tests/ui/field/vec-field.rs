#[derive(Clone, ipc::Message)]
#[repr(C)]
struct Batch {
    count: u64,
    items: Vec<u64>,
}

fn main() {}
