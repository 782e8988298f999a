/// Owns a resource released in Drop: must never be duplicated by a byte copy.
#[repr(C)]
struct Handle {
    fd: i32,
}

impl Drop for Handle {
    fn drop(&mut self) {}
}

#[derive(ipc::Message)]
#[repr(C)]
struct Open {
    handle: Handle,
}

fn main() {}
