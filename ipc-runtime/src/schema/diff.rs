//! The first difference between two trees, named by its field path.

use core::fmt;

use super::{bytes, Node, SchemaTree, TreeField, TreeVariant};

/// Where two schema trees first differ, and how: the path of the type or field
/// (`Order.qty`, `Order.legs[].price`), and what it is on each side.
///
/// `Display` reads "`Order.qty`: u32 at offset 32 here, u64 at offset 32 there", "here"
/// being the tree [`SchemaTree::first_difference`] was called on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    path: String,
    here: String,
    there: String,
}

impl Difference {
    /// The path of the type or field that differs: the top type's name, then `.field`
    /// for a field, `[]` for an array's elements.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What it is on this side (`u32 at offset 32`, `missing`).
    pub fn here(&self) -> &str {
        &self.here
    }

    /// What it is on the other side.
    pub fn there(&self) -> &str {
        &self.there
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: {} here, {} there",
            self.path, self.here, self.there
        )
    }
}

impl SchemaTree {
    /// The first place where `self` and `other` differ, or `None` if they are equal (and
    /// so have equal fingerprints).
    ///
    /// Fields are matched by name, in this side's order: the first field of `self` that
    /// `other` lacks or has with another type or offset, else the first field only
    /// `other` has, else the struct's own size or alignment. Variants likewise.
    ///
    /// ```
    /// use ipc::schema::SchemaTree;
    ///
    /// mod v1 {
    ///     #[derive(Clone, Copy, ipc::Message)]
    ///     #[repr(C)]
    ///     pub struct Order { pub id: u64, pub qty: u32, pub _pad: [u8; 4] }
    /// }
    /// mod v2 {
    ///     #[derive(Clone, Copy, ipc::Message)]
    ///     #[repr(C)]
    ///     pub struct Order { pub id: u64, pub qty: u64 }
    /// }
    ///
    /// let (a, b) = (SchemaTree::of::<v1::Order>().unwrap(), SchemaTree::of::<v2::Order>().unwrap());
    /// let d = a.first_difference(&b).unwrap();
    /// assert_eq!(d.to_string(), "`Order.qty`: u32 at offset 8 here, u64 at offset 8 there");
    /// assert!(a.first_difference(&a).is_none());
    /// ```
    pub fn first_difference(&self, other: &SchemaTree) -> Option<Difference> {
        let mut path = self.name().to_owned();
        diff(self, other, &mut path)
    }
}

fn differ(path: &str, here: impl Into<String>, there: impl Into<String>) -> Option<Difference> {
    Some(Difference {
        path: path.to_owned(),
        here: here.into(),
        there: there.into(),
    })
}

/// A field as the difference names it: its type as Rust spells it and its offset.
fn field(f: &TreeField) -> String {
    format!("{} at offset {}", f.tree, f.offset)
}

/// A type, with what tells it apart from another of the same spelling.
fn describe(t: &SchemaTree) -> String {
    match &t.0 {
        Node::Primitive { primitive, align } => format!("{primitive} aligned to {align}"),
        Node::Array { .. } | Node::Str { .. } => t.to_string(),
        Node::Struct {
            name, size, align, ..
        } => format!("struct `{name}` of {}, align {align}", bytes(*size)),
        Node::Enum {
            name, repr, align, ..
        } => format!("enum `{name}` as {repr} aligned to {align}"),
    }
}

fn variant(enum_name: &str, v: &TreeVariant) -> String {
    format!("`{enum_name}::{}` = {}", v.name, v.value)
}

fn diff(a: &SchemaTree, b: &SchemaTree, path: &mut String) -> Option<Difference> {
    if a == b {
        return None;
    }
    match (&a.0, &b.0) {
        (Node::Struct { name: na, .. }, Node::Struct { name: nb, .. }) if na == nb => {
            let (fa, fb) = (a.fields(), b.fields());
            for x in fa {
                let Some(y) = fb.iter().find(|y| y.name == x.name) else {
                    // A field of the other side's in its place that this side lacks (and
                    // that is not padding) reads as a rename.
                    let renamed = |y: &&TreeField| {
                        y.offset == x.offset
                            && !y.is_padding()
                            && !fa.iter().any(|x| x.name == y.name)
                    };
                    let there = match fb.iter().find(renamed) {
                        Some(y) => format!("`{}`: {}", y.name, field(y)),
                        None => "missing".to_owned(),
                    };
                    return differ(&format!("{path}.{}", x.name), field(x), there);
                };
                if x.offset != y.offset || x.tree.to_string() != y.tree.to_string() {
                    return differ(&format!("{path}.{}", x.name), field(x), field(y));
                }
                if x.tree != y.tree {
                    let len = path.len();
                    path.push('.');
                    path.push_str(&x.name);
                    let d = diff(&x.tree, &y.tree, path);
                    path.truncate(len);
                    return d;
                }
            }
            if let Some(y) = fb.iter().find(|y| !fa.iter().any(|x| x.name == y.name)) {
                return differ(&format!("{path}.{}", y.name), "missing", field(y));
            }
            let order = |fs: &[TreeField]| {
                let names: Vec<&str> = fs.iter().map(|f| f.name.as_str()).collect();
                format!("fields in the order {}", names.join(", "))
            };
            if fa.iter().zip(fb).any(|(x, y)| x.name != y.name) {
                return differ(path, order(fa), order(fb));
            }
            differ(path, describe(a), describe(b))
        }
        (
            Node::Enum {
                name: na,
                variants: va,
                ..
            },
            Node::Enum {
                name: nb,
                variants: vb,
                ..
            },
        ) if na == nb => {
            for x in va {
                match vb.iter().find(|y| y.name == x.name) {
                    None => return differ(path, variant(na, x), format!("no `{na}::{}`", x.name)),
                    Some(y) if y.value != x.value => {
                        return differ(path, variant(na, x), variant(nb, y))
                    }
                    Some(_) => {}
                }
            }
            if let Some(y) = vb.iter().find(|y| !va.iter().any(|x| x.name == y.name)) {
                return differ(path, format!("no `{nb}::{}`", y.name), variant(nb, y));
            }
            let order = |vs: &[TreeVariant]| {
                let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
                format!("variants in the order {}", names.join(", "))
            };
            if va.iter().zip(vb).any(|(x, y)| x.name != y.name) {
                return differ(path, order(va), order(vb));
            }
            differ(path, describe(a), describe(b))
        }
        (
            Node::Array {
                element: ea,
                len: la,
                ..
            },
            Node::Array {
                element: eb,
                len: lb,
                ..
            },
        ) if la == lb && ea.to_string() == eb.to_string() => {
            path.push_str("[]");
            diff(ea, eb, path)
        }
        _ if a.to_string() == b.to_string() => differ(path, describe(a), describe(b)),
        _ => differ(path, a.to_string(), b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{Field, Message, Schema, Variant};
    use crate::schema::SchemaTree;

    fn tree(s: &Schema) -> SchemaTree {
        SchemaTree::from_schema(s).unwrap()
    }

    #[test]
    fn names_the_first_differing_variant() {
        const A: &[Variant] = &[Variant::new("Buy", 1), Variant::new("Sell", 2)];
        const B: &[Variant] = &[Variant::new("Buy", 1), Variant::new("Sell", 3)];
        const C: &[Variant] = &[Variant::new("Sell", 2), Variant::new("Buy", 1)];
        let a = tree(&Schema::enumeration("Side", &u8::SCHEMA, A));
        let b = tree(&Schema::enumeration("Side", &u8::SCHEMA, B));
        let c = tree(&Schema::enumeration("Side", &u8::SCHEMA, C));
        let d = tree(&Schema::enumeration("Side", &u16::SCHEMA, A));
        assert_eq!(
            a.first_difference(&b).unwrap().to_string(),
            "`Side`: `Side::Sell` = 2 here, `Side::Sell` = 3 there"
        );
        assert_eq!(
            a.first_difference(&c).unwrap().to_string(),
            "`Side`: variants in the order Buy, Sell here, variants in the order Sell, Buy there"
        );
        assert_eq!(
            a.first_difference(&d).unwrap().to_string(),
            "`Side`: enum `Side` as u8 aligned to 1 here, enum `Side` as u16 aligned to 2 there"
        );
    }

    #[test]
    fn names_a_nested_type_whose_kind_changed() {
        const V: &[Variant] = &[Variant::new("Buy", 1)];
        const SIDE_ENUM: Schema = Schema::enumeration("Side", &u8::SCHEMA, V);
        const F: &[Field] = &[Field::new("raw", 0, &u8::SCHEMA)];
        const SIDE_STRUCT: Schema = Schema::structure("Side", 1, 1, F);
        const A: &[Field] = &[Field::new("side", 0, &SIDE_ENUM)];
        const B: &[Field] = &[Field::new("side", 0, &SIDE_STRUCT)];
        let a = tree(&Schema::structure("Fill", 1, 1, A));
        let b = tree(&Schema::structure("Fill", 1, 1, B));
        assert_eq!(
            a.first_difference(&b).unwrap().to_string(),
            "`Fill.side`: enum `Side` as u8 aligned to 1 here, struct `Side` of 1 byte, \
             align 1 there"
        );
    }
}
