use ipc::Message;

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Quote {
    price: f64,
}

#[ipc::service]
trait Pricing {
    type Out;
    fn quote(&self, qty: u32) -> Quote;
}

fn main() {}
