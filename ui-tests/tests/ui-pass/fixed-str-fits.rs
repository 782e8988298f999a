// `fixed_str!` takes its capacity from where the value goes; a literal that fits, up to
// exactly the capacity, compiles, in plain and in generic code alike.
use ipc::{fixed_str, FixedStr};

fn padded<const N: usize>() -> FixedStr<N> {
    fixed_str!("ab")
}

fn main() {
    let exact: FixedStr<4> = fixed_str!("ACME");
    assert_eq!(exact.as_str(), "ACME");
    assert_eq!(exact.as_bytes(), b"ACME");

    let roomy: FixedStr<8> = fixed_str!(concat!("AC", "ME"));
    assert_eq!(roomy.as_bytes(), b"ACME\0\0\0\0");

    assert_eq!(padded::<2>().as_str(), "ab");
    assert_eq!(padded::<5>().as_bytes(), b"ab\0\0\0");
}
