#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Job {
    id: u64,
    run: fn(u64) -> u64,
}

fn main() {}
