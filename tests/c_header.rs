//! C declarations generated from schemas compile with a real C compiler
//! (`cc -std=c11 -Wall -Werror`), their `_Static_assert`s hold, and a header edited to
//! differ from the Rust type by one field does not compile. Skipped, saying so, where no
//! `cc` exists.

use std::process::Command;

use ipc::schema::{c_header, SchemaTree};
use ipc::FixedStr;

mod common;
use common::TempDir;

mod pricing;

#[derive(ipc::Message, Clone, Copy)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(ipc::Message, Clone, Copy)]
#[repr(i64)]
enum Wide {
    Least = i64::MIN,
    Zero = 0,
    Most = i64::MAX,
}

#[derive(ipc::Message, Clone, Copy)]
#[repr(C)]
struct Level {
    price: i64,
    qty: u32,
    venue: u16,
    side: Side,
    live: bool,
}

#[derive(ipc::Message, Clone, Copy)]
#[repr(C)]
struct Quote {
    id: u64,
    symbol: FixedStr<8>,
    levels: [Level; 3],
    best: Level,
    seq: [[u16; 2]; 2],
}

/// Field names that are C keywords, or macros of the headers C includes, or the same in C
/// as another field's (`a` and `a_`, `int` and `int_`), a tuple struct, `char`, floats,
/// 128-bit integers.
#[derive(ipc::Message, Clone, Copy)]
#[repr(C)]
#[allow(non_snake_case)]
struct Odd {
    big: u128,
    small: i128,
    wide: Wide,
    default: u32,
    int: f32,
    letter: char,
    pair: Pair,
    a: u8,
    a_: u8,
    int_: u8,
    NULL: u8,
    offsetof: u8,
    _pad: [u8; 3],
}

#[derive(ipc::Message, Clone, Copy)]
#[repr(C)]
struct Pair(u16, i16);

#[derive(ipc::Message, Clone, Copy)]
#[repr(C)]
struct OrderBook {
    odd: Odd,
    quote: Quote,
    bids: [Level; 2],
    _pad: [u8; 8],
}

fn cc() -> Option<&'static str> {
    let ok = Command::new("cc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: no C compiler (`cc`) on this machine");
    }
    ok.then_some("cc")
}

/// Compiles `main.c` including `header` in `dir`; the compiler's exit status and output.
fn compile(dir: &TempDir, header: &str, main: &str) -> (bool, String) {
    std::fs::write(dir.path().join("types.h"), header).unwrap();
    std::fs::write(dir.path().join("main.c"), main).unwrap();
    let out = Command::new("cc")
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-c", "main.c", "-o", "main.o",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const MAIN: &str = r#"#include "types.h"
#include "types.h" /* twice: the include guard holds */

int use(void);
int use(void) {
    OrderBook book = {0};
    book.quote.levels[2].side = Side_Sell;
    book.odd.wide = Wide_Least;
    book.quote.symbol[0] = 'A';
    book.odd.pair._1 = -1;
    book.odd.default_ = 7;
    book.odd.a_ = 1;
    book.odd.int__ = 2;
    book.odd.NULL_ = 3;
    book.odd.offsetof_ = 4;
    return (int)(sizeof book + ORDER_BOOK_SIZE + (QUOTE_FINGERPRINT != 0));
}
"#;

fn trees() -> Vec<SchemaTree> {
    vec![
        SchemaTree::of::<OrderBook>().unwrap(),
        SchemaTree::of::<Quote>().unwrap(),
        SchemaTree::of::<u64>().unwrap(),
        SchemaTree::of::<[u32; 4]>().unwrap(),
    ]
}

#[test]
fn generated_headers_compile_and_their_asserts_hold() {
    let Some(_) = cc() else { return };
    let trees = trees();
    let header = c_header("types.h", &trees.iter().collect::<Vec<_>>());
    // Each type once, however many trees use it.
    assert_eq!(
        header.matches("typedef struct Level {").count(),
        1,
        "{header}"
    );
    assert!(header.contains("#define Side_Sell ((Side)2)"), "{header}");
    assert!(header.contains("typedef uint64_t message_u64;"), "{header}");
    let dir = TempDir::new("c-header");
    let (ok, err) = compile(&dir, &header, MAIN);
    assert!(
        ok,
        "the generated header does not compile:\n{err}\n{header}"
    );
    // One type alone, as `c_declaration` prints it, compiles too.
    let one = format!(
        "#include <stddef.h>\n#include <stdint.h>\n{}",
        SchemaTree::of::<Quote>().unwrap().c_declaration()
    );
    let (ok, err) = compile(&dir, &one, "#include \"types.h\"\n");
    assert!(ok, "{err}\n{one}");
}

/// The messages a `#[ipc::service]` generates (a header, markers of zero-length arrays
/// that name every method's types, a body of bytes) are C types too.
#[test]
fn the_messages_of_a_generated_service_compile_as_c() {
    let Some(_) = cc() else { return };
    let trees = [
        SchemaTree::of::<pricing::PricingRequest>().unwrap(),
        SchemaTree::of::<pricing::PricingResponse>().unwrap(),
    ];
    let header = c_header("types.h", &trees.iter().collect::<Vec<_>>());
    let dir = TempDir::new("c-header-service");
    let main = "#include \"types.h\"\nint use(void);\nint use(void) { PricingRequest r = {0}; \
                return (int)sizeof r; }\n";
    let (ok, err) = compile(&dir, &header, main);
    assert!(
        ok,
        "the service's header does not compile:\n{err}\n{header}"
    );
}

#[test]
fn a_header_that_differs_by_one_field_does_not_compile() {
    let Some(_) = cc() else { return };
    let trees = trees();
    let header = c_header("types.h", &trees.iter().collect::<Vec<_>>());
    let dir = TempDir::new("c-header-differs");
    for (from, to) in [
        ("    uint32_t qty;", "    uint64_t qty;"),
        ("    uint16_t venue;", "    uint32_t venue;"),
        ("    char symbol[8];", "    char symbol[9];"),
        ("    int64_t price;", "    int32_t price;"),
    ] {
        assert!(header.contains(from), "{from} is not in\n{header}");
        let edited = header.replacen(from, to, 1);
        let (ok, err) = compile(&dir, &edited, MAIN);
        assert!(!ok, "a header with `{to}` compiled");
        assert!(err.contains("static assertion failed"), "{err}");
    }
}
