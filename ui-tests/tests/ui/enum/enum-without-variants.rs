#[derive(Clone, Copy, ipc::Message)]
#[repr(u8)]
enum Never {}

fn main() {}
