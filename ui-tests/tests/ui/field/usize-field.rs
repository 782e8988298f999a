#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Slice {
    offset: usize,
    len: u64,
}

fn main() {}
