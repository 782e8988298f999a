#[derive(Clone, Copy, ipc::Message)]
#[repr(u8)]
enum Command {
    Stop,
    Move { x: i32, y: i32 },
}

fn main() {}
