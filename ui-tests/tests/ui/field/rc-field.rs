use std::rc::Rc;

#[derive(Clone, ipc::Message)]
#[repr(C)]
struct Shared {
    value: Rc<u64>,
}

fn main() {}
