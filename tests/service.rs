//! `#[ipc::service]` without a transport: the generated request and response messages,
//! their fingerprints (which cover every method's name, argument and result types), and
//! the server's dispatch, refusals included. Across processes, over Unix sockets and TCP:
//! `tests/service_processes.rs`.

use ipc::rpc::Reply;
use ipc::{fixed_str, FixedStr, Message};

mod pricing;
use pricing::{Book, Pricing, PricingRequest, PricingResponse, PricingServer, Quote, Rejected};

/// The same trait, in another module: the same fingerprints.
pub mod same {
    use super::pricing::{Echo, Quote, Rejected};
    use ipc::FixedStr;

    #[ipc::service]
    pub trait Pricing {
        fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
        fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
        fn reset(&mut self);
        fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected>;
        fn echo(&self, client: u32, n: u64) -> Echo;
        fn stall(&self, ms: u32);
    }
}

/// `quote` renamed `price`.
pub mod renamed {
    use super::pricing::{Echo, Quote, Rejected};
    use ipc::FixedStr;

    #[ipc::service]
    pub trait Pricing {
        fn price(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
        fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
        fn reset(&mut self);
        fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected>;
        fn echo(&self, client: u32, n: u64) -> Echo;
        fn stall(&self, ms: u32);
    }
}

/// `cancel` takes a `u32`.
pub mod argument {
    use super::pricing::{Echo, Quote, Rejected};
    use ipc::FixedStr;

    #[ipc::service]
    pub trait Pricing {
        fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
        fn cancel(&mut self, id: u32) -> Result<(), Rejected>;
        fn reset(&mut self);
        fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected>;
        fn echo(&self, client: u32, n: u64) -> Echo;
        fn stall(&self, ms: u32);
    }
}

/// `flag`'s error is a `u8`.
pub mod result {
    use super::pricing::{Echo, Quote, Rejected};
    use ipc::FixedStr;

    #[ipc::service]
    pub trait Pricing {
        fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
        fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
        fn reset(&mut self);
        fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, u8>;
        fn echo(&self, client: u32, n: u64) -> Echo;
        fn stall(&self, ms: u32);
    }
}

#[test]
fn the_same_trait_elsewhere_has_the_same_fingerprints() {
    assert_eq!(
        PricingRequest::FINGERPRINT,
        same::PricingRequest::FINGERPRINT
    );
    assert_eq!(
        PricingResponse::FINGERPRINT,
        same::PricingResponse::FINGERPRINT
    );
}

#[test]
fn renaming_a_method_changes_the_fingerprints() {
    assert_ne!(
        PricingRequest::FINGERPRINT,
        renamed::PricingRequest::FINGERPRINT
    );
    assert_ne!(
        PricingResponse::FINGERPRINT,
        renamed::PricingResponse::FINGERPRINT
    );
}

#[test]
fn changing_an_argument_type_changes_the_fingerprints() {
    assert_ne!(
        PricingRequest::FINGERPRINT,
        argument::PricingRequest::FINGERPRINT
    );
    assert_ne!(
        PricingResponse::FINGERPRINT,
        argument::PricingResponse::FINGERPRINT
    );
}

#[test]
fn changing_a_result_type_changes_the_fingerprints() {
    assert_ne!(
        PricingResponse::FINGERPRINT,
        result::PricingResponse::FINGERPRINT
    );
    // Both frames name every method's arguments and result, so that each side's check
    // of the other's handshake sees any difference.
    assert_ne!(
        PricingRequest::FINGERPRINT,
        result::PricingRequest::FINGERPRINT
    );
}

#[test]
fn the_first_difference_names_the_method() {
    use ipc::schema::SchemaTree;
    let ours = SchemaTree::of::<PricingRequest>().unwrap();
    let renamed = SchemaTree::of::<renamed::PricingRequest>().unwrap();
    let d = ours.first_difference(&renamed).unwrap().to_string();
    assert!(d.contains("quote"), "{d}");
    let argument = SchemaTree::of::<argument::PricingRequest>().unwrap();
    let d = ours.first_difference(&argument).unwrap().to_string();
    assert!(d.contains("cancel") && d.contains("id"), "{d}");
    let ours = SchemaTree::of::<PricingResponse>().unwrap();
    let result = SchemaTree::of::<result::PricingResponse>().unwrap();
    let d = ours.first_difference(&result).unwrap().to_string();
    assert!(d.contains("flag") && d.contains("err"), "{d}");
}

#[test]
fn a_request_is_a_header_and_the_largest_argument_struct() {
    // quote's arguments: FixedStr<16> and u32, padded to the largest alignment (8, of
    // flag's u64): 24 bytes after an 8-byte header.
    assert_eq!(size_of::<PricingRequest>(), 8 + 24);
    assert_eq!(PricingRequest::SCHEMA.size, size_of::<PricingRequest>());
    assert_eq!(size_of::<PricingResponse>(), 8 + 16);
}

/// A request as a client of another build might send it: `method`, and `body` from
/// the start of the body.
fn raw_request(seq: u32, method: u16, body: &[u8]) -> PricingRequest {
    let mut bytes = vec![0u8; size_of::<PricingRequest>()];
    bytes[..4].copy_from_slice(&seq.to_ne_bytes());
    bytes[4..6].copy_from_slice(&method.to_ne_bytes());
    bytes[8..8 + body.len()].copy_from_slice(body);
    ipc::from_bytes(&bytes).unwrap()
}

/// The outcome field of a response (0 ok, 1 err, 2 unknown method, 3 invalid arguments).
fn outcome(resp: &PricingResponse) -> u16 {
    let b = ipc::as_bytes(resp);
    u16::from_ne_bytes([b[6], b[7]])
}

#[test]
fn the_server_dispatches_by_method_id() {
    let mut server = PricingServer::new(Book::default());
    // Method 3 is `reset`, the third method.
    let Reply::Answer(resp) = server.handle(raw_request(9, 3, &[])) else {
        panic!("reset refused")
    };
    assert_eq!(outcome(&resp), 0);
    assert_eq!(server.service().resets, 1);
    let mut cancel = [0u8; 8];
    cancel.copy_from_slice(&1u64.to_ne_bytes());
    let Reply::Answer(resp) = server.handle(raw_request(10, 2, &cancel)) else {
        panic!("cancel refused")
    };
    assert_eq!(outcome(&resp), 1, "cancel(1) is Err(AlreadyFilled)");
    assert_eq!(ipc::as_bytes(&resp)[8], Rejected::AlreadyFilled as u8);
    let _ = Quote::FINGERPRINT;
    let _ = fixed_str!("x") as FixedStr<16>;
}

#[test]
fn the_server_refuses_an_unknown_method_and_closes() {
    let mut server = PricingServer::new(Book::default());
    let Reply::Close(resp) = server.handle(raw_request(1, 77, &[])) else {
        panic!("method 77 answered")
    };
    assert_eq!(outcome(&resp), 2);
}

#[test]
fn the_server_refuses_invalid_arguments_and_closes() {
    let mut server = PricingServer::new(Book::default());
    // flag (method 4): `on: bool` first; 7 is no bool.
    let Reply::Close(resp) = server.handle(raw_request(1, 4, &[7])) else {
        panic!("flag(7, ..) answered")
    };
    assert_eq!(outcome(&resp), 3);
    assert_eq!(server.into_inner().resets, 0);
}

#[test]
fn every_method_is_callable_through_the_trait() {
    let mut book = Book::default();
    book.reset();
    assert_eq!(book.quote(fixed_str!("AB"), 1).price, 3.0);
}
