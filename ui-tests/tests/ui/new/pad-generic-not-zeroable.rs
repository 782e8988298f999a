// A generic padding field makes `new` require all-zero bytes of its type: the constructor
// exists for `Pair<u32>`, not for `Pair<Side>`.
#[derive(Clone, Copy, ipc::Message)]
#[repr(u32)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, ipc::Message)]
#[repr(C)]
#[ipc(new)]
struct Pair<T> {
    value: T,
    #[ipc(pad)]
    spare: T,
}

fn main() {
    let _fine = Pair::<u32>::new(1);
    let _refused = Pair::<Side>::new(Side::Buy);
}
