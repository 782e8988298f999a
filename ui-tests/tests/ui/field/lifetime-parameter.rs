#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct View<'a> {
    bytes: &'a [u8; 4],
}

fn main() {}
