use ipc::Message;

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Quote {
    price: f64,
}

#[ipc::service]
trait Pricing {
    fn quote(self, qty: usize) -> Quote;
    async fn cancel<T>(&mut self, id: &u64) -> Result<(), Vec<u8>>;
    fn reset();
}

fn main() {}
