//! JSON for [`Value`]s: writing one, and reading one with its [`SchemaTree`], checked
//! field by field.
//!
//! A small reader of its own rather than `serde_json`: it keeps each number's text, so a
//! `u128` or `i128` is read exactly and an `f32` is rounded once from the text (not through
//! an `f64`), which `serde_json` does only with its `arbitrary_precision` feature — a
//! feature that changes `serde_json::Number` for every crate of a build that uses it. The
//! core thus reads and writes JSON with no dependency and no cargo feature.
//!
//! The mapping: integers are JSON integers (never a fraction or an exponent), floats are
//! numbers written in their shortest exact form, except the ones JSON has no number for,
//! written as the strings `"Infinity"`, `"-Infinity"`, `"NaN"` (the NaN Rust's `f32::NAN`
//! / `f64::NAN` have) or `"NaN(0x7ff8000000000001)"` (any other NaN, by its bits); `bool`
//! is `true` or `false`; `char`, `FixedStr` and enums (by variant name) are strings;
//! arrays are arrays; structs are objects whose keys are the field names (`"0"`, `"1"`,
//! ... in a tuple struct), in declaration order.

use core::fmt::Write;

use super::value::{check_str, find_field, unknown_field, Seg, ValuePath};
use super::{Node, Primitive, SchemaTree, Value, ValueError, ValueProblem};

/// How deep JSON arrays and objects may nest (a tree nests at most
/// [`MAX_DEPTH`](super::MAX_DEPTH)).
const MAX_JSON_DEPTH: usize = 128;

impl Value {
    /// The value as compact JSON on one line (see [`Value::from_json`] for the mapping).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out);
        out
    }

    /// Reads JSON as a value of `tree`, checking every field against it.
    ///
    /// Integers are JSON integers; floats are numbers, or the strings `"NaN"`,
    /// `"Infinity"`, `"-Infinity"` or `"NaN(0x…)"` (a NaN by its bits); `bool` is `true` or
    /// `false`; `char` is a string of one character; a `FixedStr` is a string; an enum is a
    /// string naming a variant; an array is an array of its length; a struct is an object
    /// with a key per field (`"0"`, `"1"`, ... for a tuple struct), in any order. A padding
    /// field (named `_…`, of type `[u8; N]`) may be left out, and is then zero.
    ///
    /// # Errors
    ///
    /// [`ValueError`] naming the field path: a value of the wrong JSON type, a number out
    /// of its type's range or with a fraction where an integer is expected, an unknown
    /// variant, a field unknown, missing or given twice, a string too long or holding a
    /// NUL, an array of the wrong length; or text that is not JSON (line and column).
    pub fn from_json(tree: &SchemaTree, json: &str) -> Result<Value, ValueError> {
        let doc = Parser::new(json).document()?;
        convert(&doc, tree, &mut ValuePath::new(tree))
    }
}

/// A parsed JSON document; numbers keep their text.
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// What it is, for an error: `a string ("abc")`, `an array`, `the number 1.5`.
    fn describe(&self) -> String {
        match self {
            Json::Null => "null".to_owned(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => format!("the number {n}"),
            Json::Str(s) if s.chars().count() > 40 => "a string".to_owned(),
            Json::Str(s) => format!("the string {s:?}"),
            Json::Array(items) => format!("an array of {}", items.len()),
            Json::Object(_) => "an object".to_owned(),
        }
    }
}

fn write_json(v: &Value, out: &mut String) {
    // `write!` to a `String` cannot fail.
    let _ = match v {
        Value::U8(x) => write!(out, "{x}"),
        Value::U16(x) => write!(out, "{x}"),
        Value::U32(x) => write!(out, "{x}"),
        Value::U64(x) => write!(out, "{x}"),
        Value::U128(x) => write!(out, "{x}"),
        Value::I8(x) => write!(out, "{x}"),
        Value::I16(x) => write!(out, "{x}"),
        Value::I32(x) => write!(out, "{x}"),
        Value::I64(x) => write!(out, "{x}"),
        Value::I128(x) => write!(out, "{x}"),
        Value::F32(x) if x.is_nan() && x.to_bits() != f32::NAN.to_bits() => {
            write!(out, "\"NaN({:#010x})\"", x.to_bits())
        }
        Value::F64(x) if x.is_nan() && x.to_bits() != f64::NAN.to_bits() => {
            write!(out, "\"NaN({:#018x})\"", x.to_bits())
        }
        Value::F32(x) => write_float(f64::from(*x), &format!("{x:?}"), out),
        Value::F64(x) => write_float(*x, &format!("{x:?}"), out),
        Value::Bool(x) => write!(out, "{x}"),
        Value::Char(c) => {
            write_str(c.encode_utf8(&mut [0; 4]), out);
            Ok(())
        }
        Value::Str(s) | Value::Enum(s) => {
            write_str(s, out);
            Ok(())
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
            Ok(())
        }
        Value::Struct { fields, .. } => {
            out.push('{');
            for (i, (name, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(name, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
            Ok(())
        }
    };
}

/// A float: `debug` is Rust's shortest exact form (`1.5`, `1e300`, `-0.0`), a JSON number
/// when the float is finite.
fn write_float(x: f64, debug: &str, out: &mut String) -> core::fmt::Result {
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        out.push_str(debug);
    }
    Ok(())
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A recursive-descent JSON reader (RFC 8259), nesting at most [`MAX_JSON_DEPTH`] deep.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ValueError {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ValueError::new(
            String::new(),
            ValueProblem::Syntax {
                line,
                column,
                message: message.into(),
            },
        )
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), ValueError> {
        if self.peek() != Some(b) {
            return Err(self.unexpected(&format!("`{}`", b as char)));
        }
        self.pos += 1;
        Ok(())
    }

    fn unexpected(&self, wanted: &str) -> ValueError {
        match self.text[self.pos..].chars().next() {
            Some(c) => self.error(self.pos, format!("expected {wanted}, found {c:?}")),
            None => self.error(self.pos, format!("expected {wanted}, found the end")),
        }
    }

    fn document(mut self) -> Result<Json, ValueError> {
        let v = self.value()?;
        self.skip_space();
        if self.pos != self.text.len() {
            return Err(self.unexpected("the end"));
        }
        Ok(v)
    }

    fn value(&mut self) -> Result<Json, ValueError> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Json, ValueError>) -> Result<Json, ValueError> {
        if self.depth == MAX_JSON_DEPTH {
            return Err(self.error(self.pos, format!("nested more than {MAX_JSON_DEPTH} deep")));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, ValueError> {
        if !self.text[self.pos..].starts_with(word) {
            return Err(self.unexpected("a value"));
        }
        self.pos += word.len();
        Ok(v)
    }

    fn object(&mut self) -> Result<Json, ValueError> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key = self.string()?;
            self.skip_space();
            self.expect(b':')?;
            members.push((key, self.value()?));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
    }

    fn array(&mut self) -> Result<Json, ValueError> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json, ValueError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.unexpected("a digit after `.`"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("a digit in the exponent"));
            }
        }
        Ok(Json::Number(self.text[start..self.pos].to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, ValueError> {
        let digits = self.text.get(self.pos..self.pos + 4);
        let v = digits
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error(self.pos, "expected 4 hexadecimal digits after `\\u`"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ValueError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let run = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            // The run ends at an ASCII byte or the end: a character boundary.
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let at = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if !self.text[self.pos..].starts_with("\\u") {
                                    return Err(self.error(at, "a lone UTF-16 surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.error(at, "a lone UTF-16 surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.error(at, "a lone UTF-16 surrogate"))?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.error(at, "an unknown escape")),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.error(self.pos, "a control character in a string")),
                None => return Err(self.error(self.pos, "a string that does not end")),
            }
        }
    }
}

/// The value of `tree` that `doc` is.
fn convert<'a>(
    doc: &Json,
    tree: &'a SchemaTree,
    path: &mut ValuePath<'a>,
) -> Result<Value, ValueError> {
    let mismatch = |path: &ValuePath<'_>| {
        path.error(ValueProblem::Type {
            expected: tree.to_string(),
            found: doc.describe(),
        })
    };
    match (&tree.0, doc) {
        (Node::Primitive { primitive, .. }, doc) => {
            primitive_from_json(*primitive, doc).map_err(|p| match p {
                Some(p) => path.error(p),
                None => mismatch(path),
            })
        }
        (Node::Array { element, len, .. }, Json::Array(items)) => {
            if items.len() != *len {
                return Err(path.error(ValueProblem::ArrayLength {
                    expected: *len,
                    found: items.len(),
                }));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                out.push(convert(item, element, path)?);
                path.pop();
            }
            Ok(Value::Array(out))
        }
        (Node::Str { capacity }, Json::Str(s)) => {
            check_str(s, *capacity).map_err(|p| path.error(p))?;
            Ok(Value::Str(s.clone()))
        }
        (Node::Enum { name, variants, .. }, Json::Str(s)) => {
            if variants.iter().any(|v| v.name == *s) {
                return Ok(Value::Enum(s.clone()));
            }
            Err(path.error(ValueProblem::UnknownVariant {
                name: s.clone(),
                enum_name: name.clone(),
                variants: variants.iter().map(|v| v.name.clone()).collect(),
            }))
        }
        (Node::Struct { name, fields, .. }, Json::Object(members)) => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                path.push(Seg::Name(&f.name));
                let v = match find_field(members, f).map_err(|p| path.error(p))? {
                    Some(m) => convert(m, &f.tree, path)?,
                    None => Value::zeros(&f.tree),
                };
                path.pop();
                out.push((f.name.clone(), v));
            }
            let given = members.iter().map(|(n, _)| n.as_str());
            if let Some((n, p)) = unknown_field(name, fields, given) {
                return Err(path.error_in(n, p));
            }
            Ok(Value::Struct {
                name: name.clone(),
                fields: out,
            })
        }
        _ => Err(mismatch(path)),
    }
}

/// A primitive from JSON; `Err(None)` for a JSON value of the wrong type.
fn primitive_from_json(p: Primitive, doc: &Json) -> Result<Value, Option<ValueProblem>> {
    let out_of_range = |n: &str| {
        Some(ValueProblem::OutOfRange {
            value: n.to_owned(),
            ty: p.name(),
        })
    };
    match (p, doc) {
        (Primitive::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Primitive::Char, Json::Str(s)) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(Some(ValueProblem::Type {
                    expected: "a char (a string of one character)".to_owned(),
                    found: doc.describe(),
                })),
            }
        }
        (Primitive::F32, Json::Number(n)) => match n.parse::<f32>() {
            Ok(x) if x.is_finite() => Ok(Value::F32(x)),
            _ => Err(out_of_range(n)),
        },
        (Primitive::F64, Json::Number(n)) => match n.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::F64(x)),
            _ => Err(out_of_range(n)),
        },
        (Primitive::F32, Json::Str(s)) => match special_float(s, 32) {
            Some(bits) => Ok(Value::F32(f32::from_bits(bits as u32))),
            None => Err(None),
        },
        (Primitive::F64, Json::Str(s)) => match special_float(s, 64) {
            Some(bits) => Ok(Value::F64(f64::from_bits(bits))),
            None => Err(None),
        },
        (_, Json::Number(n)) => {
            let Some((min, max)) = p.int_range() else {
                return Err(None);
            };
            if n.contains(['.', 'e', 'E']) {
                return Err(Some(ValueProblem::NotInteger(n.clone())));
            }
            // JSON's grammar, checked when reading: `-`, then digits.
            let v = match n.strip_prefix('-') {
                Some(_) => n
                    .parse::<i128>()
                    .ok()
                    .filter(|&v| v >= min)
                    .map(|v| v as u128),
                None => n.parse::<u128>().ok().filter(|&v| v <= max),
            };
            let Some(v) = v else {
                return Err(out_of_range(n));
            };
            // `v` is in range: the casts keep it.
            Ok(match p {
                Primitive::U8 => Value::U8(v as u8),
                Primitive::U16 => Value::U16(v as u16),
                Primitive::U32 => Value::U32(v as u32),
                Primitive::U64 => Value::U64(v as u64),
                Primitive::U128 => Value::U128(v),
                Primitive::I8 => Value::I8(v as i8),
                Primitive::I16 => Value::I16(v as i16),
                Primitive::I32 => Value::I32(v as i32),
                Primitive::I64 => Value::I64(v as i64),
                _ => Value::I128(v as i128),
            })
        }
        _ => Err(None),
    }
}

/// The bits of a float JSON writes as a string: `NaN`, `Infinity`, `-Infinity`,
/// `NaN(0x…)`; `None` for any other string, or bits that are not a NaN.
fn special_float(s: &str, bits: u32) -> Option<u64> {
    let (nan, inf, exp_mask) = if bits == 32 {
        (
            u64::from(f32::NAN.to_bits()),
            u64::from(f32::INFINITY.to_bits()),
            0x7f80_0000,
        )
    } else {
        (
            f64::NAN.to_bits(),
            f64::INFINITY.to_bits(),
            0x7ff0_0000_0000_0000,
        )
    };
    let sign = 1u64 << (bits - 1);
    match s {
        "NaN" => Some(nan),
        "Infinity" => Some(inf),
        "-Infinity" => Some(inf | sign),
        _ => {
            let hex = s.strip_prefix("NaN(0x")?.strip_suffix(')')?;
            let v = u64::from_str_radix(hex, 16).ok()?;
            let mantissa = !(exp_mask | sign) & (sign | (sign - 1));
            let is_nan =
                (bits == 64 || v >> bits == 0) && v & exp_mask == exp_mask && v & mantissa != 0;
            is_nan.then_some(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Json, ValueError> {
        Parser::new(s).document()
    }

    #[test]
    fn reads_json() {
        let doc = parse(r#" {"a": [1, -2.5e3, true, null], "b\u00e9\ud83d\ude00": "x\ny\"" } "#);
        let want = Json::Object(vec![
            (
                "a".into(),
                Json::Array(vec![
                    Json::Number("1".into()),
                    Json::Number("-2.5e3".into()),
                    Json::Bool(true),
                    Json::Null,
                ]),
            ),
            ("bé😀".into(), Json::Str("x\ny\"".into())),
        ]);
        assert_eq!(doc.unwrap(), want);
    }

    #[test]
    fn refuses_what_is_not_json_with_its_place() {
        for (text, message) in [
            ("", "expected a value, found the end"),
            ("[1,]", "expected a value, found ']'"),
            ("{\"a\" 1}", "expected `:`, found '1'"),
            ("01", "expected the end, found '1'"),
            ("1.", "expected a digit after `.`, found the end"),
            ("\"\\ud800\"", "a lone UTF-16 surrogate"),
            ("\"a\u{1}\"", "a control character in a string"),
            ("[1] x", "expected the end, found 'x'"),
            ("\"\\x\"", "an unknown escape"),
            ("nul", "expected a value, found 'n'"),
        ] {
            match parse(text).unwrap_err().problem() {
                ValueProblem::Syntax { message: m, .. } => assert_eq!(m, message, "{text:?}"),
                p => panic!("{text:?}: {p:?}"),
            }
        }
        let e = parse("{\n  \"a\": [1,\n   x]}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "not JSON at line 3, column 4: expected a value, found 'x'"
        );
        let deep = "[".repeat(MAX_JSON_DEPTH + 1);
        assert!(parse(&deep)
            .unwrap_err()
            .to_string()
            .contains("nested more than"));
        let deepest = "[".repeat(MAX_JSON_DEPTH) + &"]".repeat(MAX_JSON_DEPTH);
        assert!(parse(&deepest).is_ok());
    }

    #[test]
    fn writes_strings_that_read_back() {
        let s = "a\"b\\c\n\u{1}\u{7f}é😀";
        let mut out = String::new();
        write_str(s, &mut out);
        assert_eq!(out, r#""a\"b\\c\n\u0001\u007fé😀""#);
        assert_eq!(parse(&out).unwrap(), Json::Str(s.into()));
    }

    #[test]
    fn special_floats_keep_their_bits() {
        assert_eq!(special_float("NaN", 64), Some(f64::NAN.to_bits()));
        assert_eq!(special_float("-Infinity", 32), Some(0xff80_0000));
        assert_eq!(special_float("NaN(0x7fc00001)", 32), Some(0x7fc0_0001));
        assert_eq!(
            special_float("NaN(0x7f800000)", 32),
            None,
            "infinity is no NaN"
        );
        assert_eq!(special_float("NaN(0x17fc00001)", 32), None, "too wide");
        assert_eq!(special_float("nan", 64), None);
        let x = f64::from_bits(0xfff8_0000_0000_0001);
        assert_eq!(
            Value::F64(x).to_json(),
            "\"NaN(0xfff8000000000001)\"",
            "a NaN other than f64::NAN"
        );
        assert_eq!(Value::F64(-0.0).to_json(), "-0.0");
        assert_eq!(Value::F32(1e-7).to_json(), "1e-7");
    }
}
