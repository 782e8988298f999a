#[derive(Clone, Copy, ipc::Message)]
#[repr(C, align(16))]
struct Aligned {
    value: u64,
}

fn main() {}
