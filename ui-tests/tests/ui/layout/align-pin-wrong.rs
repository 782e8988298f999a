#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(align = 8)]
struct Rgba {
    r: u8,
    g: u8,
    b: u8,
    a: u8,
}

fn main() {}
