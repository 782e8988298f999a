#[derive(Clone, Copy, ipc::Message)]
struct Point {
    x: i32,
    y: i32,
}

fn main() {}
