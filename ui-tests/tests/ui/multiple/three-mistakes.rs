// Three mistakes in one derive: all three are reported in the same compile.
#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(sise = 24)]
struct Order {
    id: usize,
    symbol: &'static str,
    qty: u32,
}

fn main() {}
