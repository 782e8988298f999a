#[derive(Clone, Copy)]
#[repr(C)]
struct Plain {
    x: u32,
}

#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Outer {
    id: u32,
    inner: Plain,
}

fn main() {}
