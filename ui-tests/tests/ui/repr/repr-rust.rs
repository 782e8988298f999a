#[derive(Clone, Copy, ipc::Message)]
#[repr(Rust)]
struct Point {
    x: i32,
    y: i32,
}

fn main() {}
