//! `#[ipc::service]` in one process: the generated types, a client and a server over a
//! Unix socket and TCP (the server in a thread here only to test the generated
//! dispatch; the cross-process behaviour is in `tests/service_processes.rs`).

use ipc::{fixed_str, FixedStr, Message};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Quote {
    pub price: f64,
    pub qty: u32,
    pub _pad: [u8; 4],
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
pub enum Rejected {
    Unknown = 1,
    AlreadyFilled = 2,
}

#[ipc::service]
pub trait Pricing {
    /// A price for `qty` of `symbol`.
    fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
    fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
    fn reset(&mut self);
    fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected>;
}

struct Book {
    resets: u32,
}

impl Pricing for Book {
    fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote {
        Quote {
            price: symbol.as_str().len() as f64 + f64::from(self.resets),
            qty,
            _pad: [0; 4],
        }
    }
    fn cancel(&mut self, id: u64) -> Result<(), Rejected> {
        match id {
            0 => Err(Rejected::Unknown),
            1 => Err(Rejected::AlreadyFilled),
            _ => Ok(()),
        }
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
    fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected> {
        if on {
            Ok(big + u64::from(small))
        } else {
            Err(Rejected::Unknown)
        }
    }
}

#[test]
fn unix_round_trip() {
    let dir = std::env::temp_dir().join(format!("svc-{}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    let path = dir.join("p.sock");
    let mut server = ipc::socket::Server::<PricingRequest, PricingResponse>::bind(&path).unwrap();
    let t = std::thread::spawn(move || {
        PricingServer::new(Book { resets: 0 })
            .serve_clients(&mut server, 1)
            .unwrap()
    });
    let mut c = PricingClient::new(ipc::socket::Client::connect(&path).unwrap());
    let q = c.quote(fixed_str!("ACME"), 7).unwrap();
    assert_eq!(q.price, 4.0);
    assert_eq!(c.cancel(0).unwrap(), Err(Rejected::Unknown));
    assert_eq!(c.cancel(5).unwrap(), Ok(()));
    c.reset().unwrap();
    assert_eq!(c.quote(fixed_str!("AB"), 1).unwrap().price, 3.0);
    assert_eq!(c.flag(true, 2, 40).unwrap(), Ok(42));
    drop(c);
    t.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{} {}",
        PricingRequest::SCHEMA.size,
        PricingResponse::SCHEMA.size
    );
}
