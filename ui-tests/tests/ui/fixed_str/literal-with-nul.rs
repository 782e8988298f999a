// A NUL byte would end the string early: refused when the program is compiled.
use ipc::{fixed_str, FixedStr};

fn main() {
    let symbol: FixedStr<8> = fixed_str!("AC\0ME");
    assert_eq!(symbol.len(), 2);
}
