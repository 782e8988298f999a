//! The only ways to make a [`SchemaTree`] node: constructors that check it against its
//! already-checked children (the rules listed in the module docs), used both by the
//! decoder and by [`from_schema`], which builds a tree from a static [`Schema`].

use std::collections::HashSet;

use super::{bytes, Node, Primitive, SchemaError, SchemaTree, TreeField, TreeVariant, MAX_DEPTH};
use crate::message::{Kind, Schema};

/// The largest size a type may have (Rust's own limit).
const MAX_SIZE: usize = isize::MAX as usize;

/// The largest alignment a type may have (Rust's own limit).
pub(super) const MAX_ALIGN: usize = 1 << 29;

/// The most values an array of zero-sized elements may hold, its elements' included.
const MAX_ZERO_SIZED_VALUES: usize = 64;

/// The path of the node being built (`Order.legs[].qty`), for errors.
pub(super) struct Path(String);

impl Path {
    pub(super) fn new() -> Self {
        Path(String::new())
    }

    /// Steps into field (or variant, or the root type) `name`; returns what
    /// [`Path::restore`] takes to step out again.
    pub(super) fn field(&mut self, name: &str) -> usize {
        let len = self.0.len();
        if len > 0 {
            self.0.push('.');
        }
        self.0.push_str(name);
        len
    }

    /// Steps into the elements of an array.
    pub(super) fn element(&mut self) -> usize {
        let len = self.0.len();
        self.0.push_str("[]");
        len
    }

    pub(super) fn restore(&mut self, len: usize) {
        self.0.truncate(len);
    }

    pub(super) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn error(&self, problem: impl Into<String>) -> SchemaError {
        SchemaError::Inconsistent {
            path: self.0.clone(),
            problem: problem.into(),
        }
    }

    fn field_error(&self, field: &str, problem: impl Into<String>) -> SchemaError {
        SchemaError::Inconsistent {
            path: format!("{}.{field}", self.0),
            problem: problem.into(),
        }
    }

    pub(super) fn too_deep(&self, depth: usize) -> Result<(), SchemaError> {
        if depth > MAX_DEPTH {
            return Err(SchemaError::TooDeep {
                path: self.0.clone(),
            });
        }
        Ok(())
    }
}

/// A name of a type, field or variant: not empty, no control characters (it is printed).
pub(super) fn check_name(path: &Path, what: &str, name: &str) -> Result<(), SchemaError> {
    if name.is_empty() {
        return Err(path.error(format!("empty {what} name")));
    }
    if name.chars().any(char::is_control) {
        return Err(path.error(format!("{what} name {name:?} holds a control character")));
    }
    Ok(())
}

fn check_align(path: &Path, align: usize) -> Result<(), SchemaError> {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(path.error(format!(
            "alignment {align} is not a power of two up to {MAX_ALIGN}"
        )));
    }
    Ok(())
}

pub(super) fn primitive(
    path: &Path,
    primitive: Primitive,
    align: usize,
) -> Result<SchemaTree, SchemaError> {
    check_align(path, align)?;
    if align > primitive.size() {
        return Err(path.error(format!(
            "{primitive} aligned to {align}, more than its {} bytes",
            primitive.size()
        )));
    }
    Ok(SchemaTree(Node::Primitive { primitive, align }))
}

pub(super) fn array(
    path: &Path,
    element: SchemaTree,
    len: usize,
) -> Result<SchemaTree, SchemaError> {
    let size = len
        .checked_mul(element.size())
        .filter(|&s| s <= MAX_SIZE)
        .ok_or_else(|| {
            path.error(format!(
                "{len} elements of {} exceed the largest size, {MAX_SIZE}",
                bytes(element.size())
            ))
        })?;
    if element.size() == 0 && len > 0 {
        let values = values(&element).saturating_mul(len);
        if values > MAX_ZERO_SIZED_VALUES {
            return Err(path.error(format!(
                "an array of {len} zero-sized elements holds {values} values, more than \
                 {MAX_ZERO_SIZED_VALUES}"
            )));
        }
    }
    Ok(SchemaTree(Node::Array {
        element: Box::new(element),
        len,
        size,
    }))
}

/// How many values (numbers, strings, arrays, ...) a value of `tree` is made of
/// (saturating).
fn values(tree: &SchemaTree) -> usize {
    match &tree.0 {
        Node::Array { element, len, .. } => values(element).saturating_mul(*len).saturating_add(1),
        Node::Struct { fields, .. } => fields
            .iter()
            .fold(1usize, |n, f| n.saturating_add(values(&f.tree))),
        _ => 1,
    }
}

pub(super) fn string(path: &Path, capacity: usize) -> Result<SchemaTree, SchemaError> {
    if capacity > MAX_SIZE {
        return Err(path.error(format!(
            "capacity {capacity} exceeds the largest size, {MAX_SIZE}"
        )));
    }
    Ok(SchemaTree(Node::Str { capacity }))
}

pub(super) fn structure(
    path: &Path,
    name: String,
    size: usize,
    align: usize,
    fields: Vec<TreeField>,
) -> Result<SchemaTree, SchemaError> {
    check_name(path, "type", &name)?;
    check_align(path, align)?;
    if size > MAX_SIZE || size % align != 0 {
        return Err(path.error(format!(
            "size {size} is not a multiple of the alignment {align} up to {MAX_SIZE}"
        )));
    }
    let mut names = HashSet::with_capacity(fields.len());
    // The end of the last field that is not zero-sized: the next one starts there.
    let mut end = 0;
    for f in &fields {
        check_name(path, "field", &f.name)?;
        if !names.insert(f.name.as_str()) {
            return Err(path.field_error(&f.name, "a second field of that name"));
        }
        let (fsize, falign) = (f.tree.size(), f.tree.align());
        if falign > align {
            return Err(path.field_error(
                &f.name,
                format!("aligned to {falign}, more than its struct's {align}"),
            ));
        }
        if f.offset % falign != 0 {
            return Err(path.field_error(
                &f.name,
                format!("offset {} is not aligned to {falign}", f.offset),
            ));
        }
        if f.offset.checked_add(fsize).is_none_or(|e| e > size) {
            return Err(path.field_error(
                &f.name,
                format!(
                    "{fsize} bytes at offset {} reach past the struct's {size} bytes",
                    f.offset
                ),
            ));
        }
        if fsize == 0 {
            continue;
        }
        if f.offset != end {
            let problem = if f.offset > end {
                format!("bytes {end}..{} before it belong to no field", f.offset)
            } else {
                format!("offset {} overlaps the field before it", f.offset)
            };
            return Err(path.field_error(&f.name, problem));
        }
        end = f.offset + fsize;
    }
    if end != size {
        return Err(path.error(format!("bytes {end}..{size} belong to no field")));
    }
    Ok(SchemaTree(Node::Struct {
        name,
        size,
        align,
        fields,
    }))
}

pub(super) fn enumeration(
    path: &Path,
    name: String,
    repr: Primitive,
    align: usize,
    variants: Vec<TreeVariant>,
) -> Result<SchemaTree, SchemaError> {
    check_name(path, "type", &name)?;
    let range = match repr {
        Primitive::U128 | Primitive::I128 => None,
        _ => repr.int_range(),
    };
    let Some((min, max)) = range else {
        return Err(path.error(format!("enum represented as {repr}, not u8 ... i64")));
    };
    check_align(path, align)?;
    if align > repr.size() {
        return Err(path.error(format!(
            "enum aligned to {align}, more than its {} bytes",
            repr.size()
        )));
    }
    let mut names = HashSet::with_capacity(variants.len());
    let mut values = HashSet::with_capacity(variants.len());
    for v in &variants {
        check_name(path, "variant", &v.name)?;
        if !names.insert(v.name.as_str()) {
            return Err(path.error(format!("two variants named `{}`", v.name)));
        }
        if v.value < min || (v.value >= 0 && v.value as u128 > max) {
            return Err(path.error(format!(
                "discriminant {} of `{}` does not fit in {repr}",
                v.value, v.name
            )));
        }
        if !values.insert(v.value) {
            return Err(path.error(format!(
                "discriminant {} of `{}` is another variant's too",
                v.value, v.name
            )));
        }
    }
    Ok(SchemaTree(Node::Enum {
        name,
        repr,
        align,
        variants,
    }))
}

/// The tree of `schema`, at `depth` (the top type is at 1).
pub(super) fn from_schema(
    schema: &Schema,
    path: &mut Path,
    depth: usize,
) -> Result<SchemaTree, SchemaError> {
    let mark = if path.is_root() {
        path.field(schema.name)
    } else {
        usize::MAX
    };
    path.too_deep(depth)?;
    let tree = match schema.kind {
        Kind::Primitive => {
            let p = Primitive::from_name(schema.name)
                .ok_or_else(|| path.error(format!("unknown primitive `{}`", schema.name)))?;
            primitive(path, p, schema.align)?
        }
        Kind::Array { element, len } => {
            let at = path.element();
            let element = from_schema(element, path, depth + 1)?;
            path.restore(at);
            array(path, element, len)?
        }
        Kind::Str { capacity } => string(path, capacity)?,
        Kind::Struct { fields } => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                let at = path.field(f.name);
                let tree = from_schema(f.schema, path, depth + 1)?;
                path.restore(at);
                out.push(TreeField {
                    name: f.name.to_owned(),
                    offset: f.offset,
                    tree,
                });
            }
            structure(path, schema.name.to_owned(), schema.size, schema.align, out)?
        }
        Kind::Enum { repr, variants } => {
            let p = match repr.kind {
                Kind::Primitive => Primitive::from_name(repr.name),
                _ => None,
            };
            let p = p.ok_or_else(|| {
                path.error(format!(
                    "enum represented as `{}`, not an integer",
                    repr.name
                ))
            })?;
            if repr.align != schema.align {
                return Err(path.error(format!(
                    "enum aligned to {} but its representation to {}",
                    schema.align, repr.align
                )));
            }
            let variants = variants
                .iter()
                .map(|v| TreeVariant {
                    name: v.name.to_owned(),
                    value: v.value,
                })
                .collect();
            enumeration(path, schema.name.to_owned(), p, schema.align, variants)?
        }
    };
    // What the static schema states beside the tree must agree with it.
    let (name, size, align) = (tree.name(), tree.size(), tree.align());
    if (schema.name, schema.size, schema.align) != (name, size, align) {
        return Err(path.error(format!(
            "the schema states `{}`, {} bytes, align {}, where its contents make `{name}`, \
             {size} bytes, align {align}",
            schema.name, schema.size, schema.align
        )));
    }
    if mark != usize::MAX {
        path.restore(mark);
    }
    Ok(tree)
}
