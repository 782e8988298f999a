// A literal longer than the capacity the FixedStr gets from its context does not compile.
use ipc::{fixed_str, FixedStr, Message};

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Quote {
    price: f64,
    symbol: FixedStr<8>,
}

fn main() {
    let quote = Quote {
        price: 101.5,
        symbol: fixed_str!("ACME Corporation"),
    };
    let _ = quote.price;
}
