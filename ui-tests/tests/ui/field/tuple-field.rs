#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Point {
    xy: (u32, u32),
}

fn main() {}
