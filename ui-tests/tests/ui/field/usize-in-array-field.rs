#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
struct Histogram {
    buckets: [usize; 8],
}

fn main() {}
