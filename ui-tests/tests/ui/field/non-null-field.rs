use core::ptr::NonNull;

#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Node {
    next: NonNull<Node>,
}

fn main() {}
