use ipc::Message;

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Pair<A, B> {
    a: A,
    b: B,
}

// Fine: no padding between two u32.
const _: u64 = <Pair<u32, u32>>::FINGERPRINT;
// u8 then u32: three bytes of padding, reported when this instance is used. (Inside a
// function body the error appears with `cargo build`; `cargo check` stops before
// instantiating generic code, but it does evaluate this constant.)
const _: u64 = <Pair<u8, u32>>::FINGERPRINT;

fn main() {}
