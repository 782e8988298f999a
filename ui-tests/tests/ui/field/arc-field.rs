#[derive(Clone, ipc::Message)]
#[repr(C)]
struct Shared {
    value: std::sync::Arc<u64>,
}

fn main() {}
