use ipc::Message;

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Quote {
    price: f64,
}

#[ipc::service]
trait Pricing {
    fn quote(&self, symbol: &str) -> Quote;
}

fn main() {}
