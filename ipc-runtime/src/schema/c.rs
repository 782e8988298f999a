//! A tree as C11 declarations, for a peer written in C: the same layout, checked by the C
//! compiler itself.

use core::fmt;

use super::decl::Named;
use super::{bytes, Node, Primitive, SchemaTree, TreeField};

/// A [`SchemaTree`] printed as C11 declarations ([`SchemaTree::c_declaration`]): every
/// struct and enum the type uses, each before the types that contain it, then the type.
///
/// - integers are `<stdint.h>` types (`uint32_t`), `u128`/`i128` GCC's and Clang's
///   `unsigned __int128`/`__int128`; `f32`/`f64` are `float`/`double`; `bool` is `_Bool`;
///   `char` is `uint32_t` (a Unicode scalar value);
/// - a `FixedStr<N>` is `char[N]`: UTF-8, NUL-padded, with no terminator when full;
/// - an enum is its representation's integer type, with a `#define` per variant
///   (`Side_Buy`): a C `enum` has the size of an `int`, which is not the Rust type's;
/// - a struct is a `typedef struct`, followed by `_Static_assert`s of its `sizeof`, its
///   `_Alignof` and every field's `offsetof`: a header that no longer matches the Rust
///   type, or a compiler that lays it out otherwise, does not compile;
/// - `NAME_FINGERPRINT` and `NAME_SIZE` are `#define`d for each struct and enum (the
///   name in capitals, words split at case changes: `OrderBook` → `ORDER_BOOK`).
///
/// Tuple fields are named `_0`, `_1`, ...; a field named like a C keyword gets a `_`
/// after it; a name that is not a C identifier (`Pair<u32>`) has its other characters
/// replaced by `_`. A top type that is not a struct or an enum is declared as
/// `typedef … message_<name>;`.
///
/// ```
/// #[derive(ipc::Message, Clone, Copy)]
/// #[repr(C)]
/// struct Reading {
///     seq: u64,
///     celsius: f64,
/// }
///
/// let tree = ipc::schema::SchemaTree::of::<Reading>()?;
/// let c = tree.c_declaration().to_string();
/// assert!(c.contains("typedef struct Reading {"));
/// assert!(c.contains("    uint64_t seq;"));
/// assert!(c.contains("_Static_assert(offsetof(Reading, celsius) == 8"));
/// # Ok::<(), ipc::schema::SchemaError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CDeclaration<'a>(&'a SchemaTree);

impl SchemaTree {
    /// The tree as C11 declarations with `_Static_assert`s of its layout; see
    /// [`CDeclaration`]. [`c_header`] puts several in one header file.
    pub fn c_declaration(&self) -> CDeclaration<'_> {
        CDeclaration(self)
    }
}

/// A whole C header declaring `trees` (each struct and enum once, however many of the
/// trees use it), with an include guard derived from `name` (`orders.h` →
/// `ORDERS_H`) and the includes it needs. Write it from a `build.rs` (or with
/// [`write_c_header`]) and `#include` it from the C peer.
pub fn c_header(name: &str, trees: &[&SchemaTree]) -> String {
    let guard = format!("{}_H", upper(name.trim_end_matches(".h")));
    let mut out = format!(
        "/* {name}: message types shared with Rust programs built on typed-ipc.\n \
         * Generated from their schemas; do not edit: generate it again. */\n\
         #ifndef {guard}\n#define {guard}\n\n\
         #include <stddef.h>\n#include <stdint.h>\n\n"
    );
    let mut done: Vec<&SchemaTree> = Vec::new();
    for tree in trees {
        let mut named = Named(Vec::new());
        named.collect(tree);
        let _ = write_tree(&mut out, tree, &named, &mut done);
    }
    out.push_str(&format!("#endif /* {guard} */\n"));
    out
}

/// Writes [`c_header`]`(file name, trees)` to `path`, as a `build.rs` does:
///
/// ```no_run
/// # #[derive(ipc::Message, Clone, Copy)] #[repr(C)] struct Order { id: u64 }
/// use ipc::schema::SchemaTree;
///
/// let order = SchemaTree::of::<Order>()?;
/// ipc::schema::write_c_header("include/orders.h", &[&order])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// An [`std::io::Error`] if the file cannot be written.
pub fn write_c_header(
    path: impl AsRef<std::path::Path>,
    trees: &[&SchemaTree],
) -> std::io::Result<()> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .map_or_else(|| "ipc.h".into(), |n| n.to_string_lossy());
    std::fs::write(path, c_header(&name, trees))
}

impl fmt::Display for CDeclaration<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut named = Named(Vec::new());
        named.collect(self.0);
        let mut out = String::new();
        write_tree(&mut out, self.0, &named, &mut Vec::new())?;
        f.write_str(&out)
    }
}

/// Writes the declarations of `tree` not in `done` (children first), and adds them there.
fn write_tree<'a>(
    out: &mut String,
    tree: &'a SchemaTree,
    named: &Named<'_>,
    done: &mut Vec<&'a SchemaTree>,
) -> fmt::Result {
    use fmt::Write as _;
    let mut order = Vec::new();
    post_order(tree, &mut order);
    for t in order {
        if done.contains(&t) {
            continue;
        }
        done.push(t);
        let name = c_name(&named.name_of(t));
        writeln!(
            out,
            "/* {}: {}, align {}{} */",
            t.name(),
            bytes(t.size()),
            t.align(),
            if name == t.name() {
                String::new()
            } else {
                format!(", declared as `{name}`")
            }
        )?;
        match &t.0 {
            Node::Struct { fields, .. } => structure(out, named, &name, fields)?,
            Node::Enum { repr, variants, .. } => {
                writeln!(out, "typedef {} {name};", primitive(*repr))?;
                for v in variants {
                    writeln!(
                        out,
                        "#define {name}_{} (({name}){})",
                        c_name(&v.name),
                        literal(*repr, v.value)
                    )?;
                }
            }
            _ => {}
        }
        defines(out, &name, t)?;
    }
    if !matches!(tree.0, Node::Struct { .. } | Node::Enum { .. }) && !done.contains(&tree) {
        done.push(tree);
        let name = format!("message_{}", c_name(&tree.to_string()));
        let (base, suffix) = spell(named, tree);
        writeln!(
            out,
            "/* {tree}: {}, align {} */",
            bytes(tree.size()),
            tree.align()
        )?;
        writeln!(out, "typedef {base} {name}{suffix};")?;
        defines(out, &name, tree)?;
    }
    Ok(())
}

/// The structs and enums under `t` (`t` included), each after those it contains.
fn post_order<'a>(t: &'a SchemaTree, out: &mut Vec<&'a SchemaTree>) {
    match &t.0 {
        Node::Array { element, .. } => post_order(element, out),
        Node::Struct { fields, .. } => {
            if !out.contains(&t) {
                for field in fields {
                    post_order(&field.tree, out);
                }
                out.push(t);
            }
        }
        Node::Enum { .. } => {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Node::Primitive { .. } | Node::Str { .. } => {}
    }
}

fn structure(out: &mut String, named: &Named<'_>, name: &str, fields: &[TreeField]) -> fmt::Result {
    use fmt::Write as _;
    let names = field_names(fields);
    writeln!(out, "typedef struct {name} {{")?;
    for (field, f) in fields.iter().zip(&names) {
        let (base, suffix) = spell(named, &field.tree);
        writeln!(out, "    {base} {f}{suffix};")?;
    }
    writeln!(out, "}} {name};")?;
    for (field, f) in fields.iter().zip(&names) {
        writeln!(
            out,
            "_Static_assert(offsetof({name}, {f}) == {}, \"{name}.{f}: offset\");",
            field.offset
        )?;
    }
    Ok(())
}

/// The `_Static_assert`s of the size and alignment of `name` (the C type of `t`), and
/// its `#define`s.
fn defines(out: &mut String, name: &str, t: &SchemaTree) -> fmt::Result {
    use fmt::Write as _;
    writeln!(
        out,
        "_Static_assert(sizeof({name}) == {}, \"{name}: size\");",
        t.size()
    )?;
    writeln!(
        out,
        "_Static_assert(_Alignof({name}) == {}, \"{name}: alignment\");",
        t.align()
    )?;
    let upper = upper(name);
    writeln!(
        out,
        "#define {upper}_FINGERPRINT UINT64_C({:#018x})",
        t.fingerprint()
    )?;
    writeln!(out, "#define {upper}_SIZE {}\n", t.size())
}

/// How a field of type `t` is declared: the type before the name, and the array bounds
/// after it (`uint32_t`, `[4][2]`).
fn spell(named: &Named<'_>, t: &SchemaTree) -> (String, String) {
    match &t.0 {
        Node::Primitive { primitive: p, .. } => (primitive(*p).to_owned(), String::new()),
        Node::Str { capacity } => ("char".into(), format!("[{capacity}]")),
        Node::Array { element, len, .. } => {
            let (base, suffix) = spell(named, element);
            (base, format!("[{len}]{suffix}"))
        }
        Node::Struct { .. } | Node::Enum { .. } => (c_name(&named.name_of(t)), String::new()),
    }
}

fn primitive(p: Primitive) -> &'static str {
    match p {
        Primitive::U8 => "uint8_t",
        Primitive::U16 => "uint16_t",
        Primitive::U32 | Primitive::Char => "uint32_t",
        Primitive::U64 => "uint64_t",
        Primitive::U128 => "unsigned __int128",
        Primitive::I8 => "int8_t",
        Primitive::I16 => "int16_t",
        Primitive::I32 => "int32_t",
        Primitive::I64 => "int64_t",
        Primitive::I128 => "__int128",
        Primitive::F32 => "float",
        Primitive::F64 => "double",
        Primitive::Bool => "_Bool",
    }
}

/// A discriminant as a C literal of its representation (the most negative 64-bit value
/// cannot be written as one literal).
fn literal(repr: Primitive, v: i128) -> String {
    match repr {
        Primitive::I64 if v == i128::from(i64::MIN) => "INT64_MIN".into(),
        Primitive::U64 if v > i128::from(u32::MAX) => format!("UINT64_C({v})"),
        Primitive::I64 if v > i128::from(i32::MAX) || v < i128::from(i32::MIN) => {
            format!("INT64_C({v})")
        }
        Primitive::U32 if v > i128::from(i32::MAX) => format!("{v}u"),
        _ => v.to_string(),
    }
}

/// `name` with every character that may not be in a C identifier replaced by `_`.
fn c_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while s.ends_with('_') && s.len() > 1 {
        s.pop();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

/// The C names of a struct's `fields`, as [`field_name`] spells them, each made unique
/// with `_`s after it where two would be the same (Rust's `a` and `a_`, `int` and
/// `int_`).
fn field_names(fields: &[TreeField]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(fields.len());
    for field in fields {
        let mut f = field_name(&field.name);
        while names.contains(&f) {
            f.push('_');
        }
        names.push(f);
    }
    names
}

/// A field's name in C: tuple fields are `_0`, `_1`; C keywords, and the macros of the
/// headers the C header includes that a field could be named (`NULL`, `offsetof`,
/// `bool`, `true`, `false`), get a `_` after them.
fn field_name(name: &str) -> String {
    const KEYWORDS: [&str; 49] = [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Alignas",
        "_Alignof",
        "_Atomic",
        "_Bool",
        "_Complex",
        "_Generic",
        "_Imaginary",
        "_Noreturn",
        "_Static_assert",
        "_Thread_local",
        "NULL",
        "offsetof",
        "bool",
        "true",
        "false",
    ];
    let name = c_name(name);
    if KEYWORDS.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// `name` in capitals, words split where the case changes (`OrderBook` → `ORDER_BOOK`).
fn upper(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in c_name(name).chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}
