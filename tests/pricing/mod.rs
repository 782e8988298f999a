//! The service the `#[ipc::service]` tests share (`mod pricing;`), an implementation of
//! it, and the transports to run it over, named by an address string
//! (`unix:PATH`, `tcp:HOST:PORT`, `shm:NAME`).
#![allow(dead_code)]

use std::time::Duration;

use ipc::rpc::{Call, Serve};
use ipc::{FixedStr, Message};

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

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Echo {
    pub n: u64,
    pub client: u32,
    pub _pad: [u8; 4],
}

#[ipc::service]
pub trait Pricing {
    /// A price for `qty` of `symbol`.
    fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
    /// Cancels order `id`.
    fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
    /// Counts a reset.
    fn reset(&mut self);
    /// `big + small` if `on`.
    fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected>;
    /// Its arguments back.
    fn echo(&self, client: u32, n: u64) -> Echo;
    /// Says "stalling ready" on stdout, then sleeps `ms` milliseconds.
    fn stall(&self, ms: u32);
}

/// The implementation the tests serve.
#[derive(Default)]
pub struct Book {
    pub resets: u32,
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

    fn echo(&self, client: u32, n: u64) -> Echo {
        Echo {
            n,
            client,
            _pad: [0; 4],
        }
    }

    fn stall(&self, ms: u32) {
        println!("stalling ready");
        std::thread::sleep(Duration::from_millis(ms.into()));
    }
}

/// A request/response transport picked at run time.
pub type AnyCall = Box<dyn Call<PricingRequest, PricingResponse>>;
/// A server transport picked at run time.
pub type AnyServe = Box<dyn Serve<PricingRequest, PricingResponse>>;

/// The shared-memory name of a server in `dir`: the directory's own (unique) name, so
/// that whatever a killed server leaves is found by that prefix.
pub fn shm_name(dir: &std::path::Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// Binds a server of kind `kind` (`unix` in `dir`, `tcp` on loopback, or `shm` named
/// after `dir`); returns it and the address clients connect to.
pub fn bind(kind: &str, dir: &std::path::Path) -> (AnyServe, String) {
    match kind {
        "unix" => {
            let path = dir.join("pricing.sock");
            let server = ipc::socket::Server::bind(&path).unwrap();
            (Box::new(server), format!("unix:{}", path.display()))
        }
        "tcp" => {
            let server = ipc::tcp::Server::bind("127.0.0.1:0").unwrap();
            let addr = server.local_addr().unwrap();
            (Box::new(server), format!("tcp:{addr}"))
        }
        "shm" => {
            let name = shm_name(dir);
            let server = ipc::shm::rpc::Server::bind(&name).unwrap();
            (Box::new(server), format!("shm:{name}"))
        }
        other => panic!("unknown transport {other}"),
    }
}

/// Connects the raw transport to `addr` (as [`bind`] gives it).
pub fn connect_raw(addr: &str) -> ipc::Result<AnyCall> {
    Ok(match addr.split_once(':') {
        Some(("unix", path)) => Box::new(ipc::socket::Client::connect(path)?),
        Some(("tcp", at)) => Box::new(ipc::tcp::Client::connect(at)?),
        Some(("shm", name)) => Box::new(ipc::shm::rpc::Client::connect(name)?),
        _ => panic!("bad address {addr}"),
    })
}

/// A service client connected to `addr`.
pub fn connect(addr: &str) -> ipc::Result<PricingClient<AnyCall>> {
    Ok(PricingClient::new(connect_raw(addr)?))
}
