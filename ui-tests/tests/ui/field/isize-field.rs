#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Delta {
    by: isize,
}

fn main() {}
