use ipc::Message;

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Quote {
    price: f64,
}

#[ipc::service]
trait Pricing {
    fn quote<T: Copy>(&self, qty: T) -> Quote;
}

fn main() {}
