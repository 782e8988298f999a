//! A tree as a Rust declaration with its layout noted, for a person to read.

use core::fmt;

use super::{bytes, Node, SchemaTree, TreeField};

/// A [`SchemaTree`] printed as Rust declarations ([`SchemaTree::declaration`]): the top
/// type first, then each struct and enum it uses, once, in the order they first appear.
///
/// ```text
/// /// 40 bytes, align 8, fingerprint 0xa09d10dc26e48e5c
/// #[repr(C)]
/// pub struct Order {
///     /* offset  0, size  8, align 8 */ pub id: u64,
///     /* offset  8, size  8, align 8 */ pub price: f64,
///     /* offset 16, size 16, align 1 */ pub symbol: FixedStr<16>,
///     /* offset 32, size  4, align 4 */ pub qty: u32,
///     /* offset 36, size  1, align 1 */ pub side: Side,
///     /* offset 37, size  3, align 1 */ pub _pad: [u8; 3],
/// }
///
/// /// 1 byte, align 1, fingerprint 0x1efeb4d189115083
/// #[repr(u8)]
/// pub enum Side {
///     Buy = 1,
///     Sell = 2,
/// }
/// ```
///
/// A top type that is not a struct or an enum is declared as `pub type Message = …;`.
/// Two different types of the same schema name (two instances of a generic struct, say)
/// are told apart by a suffix, `Pair` and `Pair_2`, noted in the second's comment.
#[derive(Clone, Copy, Debug)]
pub struct Declaration<'a>(&'a SchemaTree);

impl SchemaTree {
    /// The tree as Rust declarations, with sizes, offsets and alignments noted; see
    /// [`Declaration`].
    pub fn declaration(&self) -> Declaration<'_> {
        Declaration(self)
    }
}

/// The structs and enums of a tree, each once, with the name each is declared under.
pub(super) struct Named<'a>(pub(super) Vec<(&'a SchemaTree, String)>);

impl<'a> Named<'a> {
    pub(super) fn collect(&mut self, t: &'a SchemaTree) {
        match &t.0 {
            Node::Array { element, .. } => self.collect(element),
            Node::Struct { name, fields, .. } => {
                if self.add(t, name) {
                    for f in fields {
                        self.collect(&f.tree);
                    }
                }
            }
            Node::Enum { name, .. } => {
                self.add(t, name);
            }
            Node::Primitive { .. } | Node::Str { .. } => {}
        }
    }

    /// Adds `t` unless it is there already; true if added.
    fn add(&mut self, t: &'a SchemaTree, name: &str) -> bool {
        if self.0.iter().any(|(u, _)| *u == t) {
            return false;
        }
        let mut unique = name.to_owned();
        let mut n = 1;
        while self.0.iter().any(|(_, used)| *used == unique) {
            n += 1;
            unique = format!("{name}_{n}");
        }
        self.0.push((t, unique));
        true
    }

    /// The name `t` (a struct or enum of the tree) is declared under.
    pub(super) fn name_of(&self, t: &SchemaTree) -> String {
        self.0
            .iter()
            .find(|(u, _)| *u == t)
            .map_or_else(|| t.name().to_owned(), |(_, n)| n.clone())
    }

    /// `t` as a field's type is spelled here.
    fn spell(&self, t: &SchemaTree) -> String {
        match &t.0 {
            Node::Array { element, len, .. } => format!("[{}; {len}]", self.spell(element)),
            Node::Struct { .. } | Node::Enum { .. } => self.name_of(t),
            _ => t.to_string(),
        }
    }
}

impl fmt::Display for Declaration<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = self.0;
        let mut named = Named(Vec::new());
        named.collect(root);
        let mut first = true;
        if !matches!(root.0, Node::Struct { .. } | Node::Enum { .. }) {
            header(f, root)?;
            writeln!(f, "pub type Message = {};", named.spell(root))?;
            first = false;
        }
        for (t, name) in &named.0 {
            if !first {
                writeln!(f)?;
            }
            first = false;
            header(f, t)?;
            if name != t.name() {
                writeln!(
                    f,
                    "/// (schema name `{}`, as another type's declared above)",
                    t.name()
                )?;
            }
            match &t.0 {
                Node::Struct { fields, .. } => structure(f, &named, name, fields)?,
                Node::Enum { repr, variants, .. } => {
                    writeln!(f, "#[repr({repr})]\npub enum {name} {{")?;
                    for v in variants {
                        writeln!(f, "    {} = {},", ident(&v.name), v.value)?;
                    }
                    writeln!(f, "}}")?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn header(f: &mut fmt::Formatter<'_>, t: &SchemaTree) -> fmt::Result {
    writeln!(
        f,
        "/// {}, align {}, fingerprint {:#018x}",
        bytes(t.size()),
        t.align(),
        t.fingerprint()
    )
}

fn structure(
    f: &mut fmt::Formatter<'_>,
    named: &Named<'_>,
    name: &str,
    fields: &[TreeField],
) -> fmt::Result {
    writeln!(f, "#[repr(C)]")?;
    if fields.is_empty() {
        return writeln!(f, "pub struct {name};");
    }
    let tuple = fields
        .iter()
        .enumerate()
        .all(|(i, x)| x.name == i.to_string());
    let width = |n: usize| n.to_string().len();
    let ow = fields.iter().map(|x| width(x.offset)).max().unwrap_or(1);
    let sw = fields
        .iter()
        .map(|x| width(x.tree.size()))
        .max()
        .unwrap_or(1);
    let aw = fields
        .iter()
        .map(|x| width(x.tree.align()))
        .max()
        .unwrap_or(1);
    writeln!(f, "pub struct {name}{}", if tuple { "(" } else { " {" })?;
    for x in fields {
        let (offset, size, align) = (x.offset, x.tree.size(), x.tree.align());
        write!(
            f,
            "    /* offset {offset:>ow$}, size {size:>sw$}, align {align:>aw$} */ pub "
        )?;
        if !tuple {
            write!(f, "{}: ", ident(&x.name))?;
        }
        writeln!(f, "{},", named.spell(&x.tree))?;
    }
    writeln!(f, "{}", if tuple { ");" } else { "}" })
}

/// `name` as an identifier: a keyword gets `r#`.
fn ident(name: &str) -> String {
    const KEYWORDS: [&str; 38] = [
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern",
        "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type",
        "unsafe", "use", "where", "while", "abstract", "become",
    ];
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{Field, Message, Schema, Variant};
    use crate::schema::SchemaTree;

    #[test]
    fn declares_nested_types_once_and_tells_namesakes_apart() {
        const V: &[Variant] = &[Variant::new("A", -1), Variant::new("B", 7)];
        const E: Schema = Schema::enumeration("Kind", &i16::SCHEMA, V);
        const P1: &[Field] = &[
            Field::new("0", 0, &u8::SCHEMA),
            Field::new("1", 1, &u8::SCHEMA),
        ];
        const P2: &[Field] = &[Field::new("0", 0, &E), Field::new("1", 2, &E)];
        const PAIR1: Schema = Schema::structure("Pair", 2, 1, P1);
        const PAIR2: Schema = Schema::structure("Pair", 4, 2, P2);
        const ARR: Schema = Schema::array(&PAIR2, 3);
        const TOP: &[Field] = &[
            Field::new("type", 0, &PAIR1),
            Field::new("b", 2, &ARR),
            Field::new("c", 14, &PAIR1),
        ];
        const S: Schema = Schema::structure("Top", 16, 2, TOP);
        let tree = SchemaTree::from_schema(&S).unwrap();
        let text = tree.declaration().to_string();
        let want = format!(
            "/// 16 bytes, align 2, fingerprint {:#018x}
#[repr(C)]
pub struct Top {{
    /* offset  0, size  2, align 1 */ pub r#type: Pair,
    /* offset  2, size 12, align 2 */ pub b: [Pair_2; 3],
    /* offset 14, size  2, align 1 */ pub c: Pair,
}}

/// 2 bytes, align 1, fingerprint {:#018x}
#[repr(C)]
pub struct Pair(
    /* offset 0, size 1, align 1 */ pub u8,
    /* offset 1, size 1, align 1 */ pub u8,
);

/// 4 bytes, align 2, fingerprint {:#018x}
/// (schema name `Pair`, as another type's declared above)
#[repr(C)]
pub struct Pair_2(
    /* offset 0, size 2, align 2 */ pub Kind,
    /* offset 2, size 2, align 2 */ pub Kind,
);

/// 2 bytes, align 2, fingerprint {:#018x}
#[repr(i16)]
pub enum Kind {{
    A = -1,
    B = 7,
}}
",
            S.fingerprint(),
            PAIR1.fingerprint(),
            PAIR2.fingerprint(),
            E.fingerprint()
        );
        assert_eq!(text, want);
    }

    #[test]
    fn declares_a_top_type_that_is_not_named() {
        let tree = SchemaTree::from_schema(&<[u16; 4]>::SCHEMA).unwrap();
        assert_eq!(
            tree.declaration().to_string(),
            format!(
                "/// 8 bytes, align 2, fingerprint {:#018x}\npub type Message = [u16; 4];\n",
                <[u16; 4]>::SCHEMA.fingerprint()
            )
        );
    }
}
