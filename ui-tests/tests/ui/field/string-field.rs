#[derive(Clone, ipc::Message)]
#[repr(C)]
struct Greeting {
    text: String,
}

fn main() {}
