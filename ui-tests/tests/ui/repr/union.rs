#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
union Value {
    int: u64,
    float: f64,
}

fn main() {}
