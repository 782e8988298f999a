#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Request {
    id: u64,
    name: &'static str,
}

fn main() {}
