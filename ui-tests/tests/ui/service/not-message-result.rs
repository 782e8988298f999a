use ipc::Message;

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Quote {
    price: f64,
}

#[ipc::service]
trait Pricing {
    fn quote(&self, qty: u32) -> std::time::Duration;
}

fn main() {}
