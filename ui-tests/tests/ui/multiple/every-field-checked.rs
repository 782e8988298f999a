// Errors from different stages (repr, attributes, field types) in one compile.
#[derive(Clone, ipc::Message)]
#[ipc(size = 8, size = 16)]
struct Frame {
    data: Vec<u8>,
    next: *mut Frame,
    len: isize,
}

fn main() {}
