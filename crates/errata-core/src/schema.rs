//! Every unknown key, wrong type and missing key of a TOML file at once, each at its place.
//!
//! A serde type with `deny_unknown_fields` stops at the first problem. Here the type's own
//! `Deserialize` is the one description of what a file may hold: [`Shape::of`] traces it (the
//! keys of each table, the type of each value, which keys are required), and
//! [`Document::check`] walks a parsed file against that shape, reporting every problem with a
//! suggestion ("did you mean `upstream`?") and the expected type in words, and pruning what is
//! wrong so that the rest can still be read and checked by [`Document::deserialize`].
//!
//! ```
//! use errata_core::schema::{Document, Shape};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings { listen: Option<String>, workers: Option<u32> }
//!
//! let mut doc = Document::parse("lisen = \"0.0.0.0:80\"\nworkers = \"2\"\n").unwrap();
//! let problems = doc.check(&Shape::of::<Settings>(), &[]);
//! assert_eq!(problems[0].message, "unknown key `lisen`");
//! assert_eq!(problems[0].help.as_deref(), Some("did you mean `listen`?"));
//! assert_eq!(problems[1].message, "`workers` must be a whole number, not `\"2\"`");
//! let rest: Settings = doc.deserialize().unwrap();
//! assert!(rest.listen.is_none() && rest.workers.is_none());
//! ```
//!
//! Enums are read as strings naming a unit variant; a type that deserializes through
//! `deserialize_any` (such as `toml::Value`) accepts any value.

use std::fmt;
use std::ops::Range;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, LineIndex};

/// What a TOML value must be, as a serde type reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Anything (the type reads any value, or could not be traced).
    Any,
    Bool,
    /// A whole number within a range (the type's own, within TOML's `i64`).
    Integer {
        min: i64,
        max: i64,
    },
    /// A number, whole or not.
    Float,
    String,
    /// A string naming one of an enum's variants.
    OneOf(&'static [&'static str]),
    List(Box<Shape>),
    /// A table whose keys are names chosen by the user, each value of one shape.
    Map(Box<Shape>),
    /// A table with known keys.
    Table(Vec<Field>),
}

/// One known key of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
    /// Whether the type fails without it (no `Option`, no `#[serde(default)]`).
    pub required: bool,
}

/// Example values by key path (`"listen"`, `"routes.path"`, `"plans.*.rate"`: a map's keys are
/// `*`, a list adds nothing), written as TOML (`"\"127.0.0.1:8080\""`). They make type errors
/// read "a string like \"127.0.0.1:8080\"".
pub type Examples<'a> = &'a [(&'a str, &'a str)];

impl Shape {
    /// The shape `T`'s `Deserialize` reads, traced from the type itself.
    pub fn of<T: DeserializeOwned>() -> Shape {
        let mut shape = trace::<T>(None);
        let mut tables = Vec::new();
        table_paths(&shape, String::new(), &mut tables);
        for path in tables {
            let mut given: Vec<&'static str> = Vec::new();
            let required = loop {
                let probe = Probe {
                    path: &path,
                    given: &given,
                };
                match try_trace::<T>(Some(&probe)) {
                    Err(TraceError {
                        missing: Some(name),
                        ..
                    }) if !given.contains(&name) => given.push(name),
                    _ => break given,
                }
            };
            mark_required(&mut shape, &path, &required);
        }
        shape
    }

    /// Adds `other`'s keys to this table, replacing keys of the same name: a file read by
    /// several types (each taking its own sections) is checked against all of them at once.
    pub fn merge(&mut self, other: Shape) {
        let (Shape::Table(mine), Shape::Table(theirs)) = (self, other) else {
            return;
        };
        for f in theirs {
            match mine.iter_mut().find(|m| m.name == f.name) {
                Some(m) => *m = f,
                None => mine.push(f),
            }
        }
    }

    /// The shape in words, as a type error names it.
    pub fn describe(&self, example: Option<&str>) -> String {
        match self {
            Shape::Any => "a value".into(),
            Shape::Bool => "true or false".into(),
            Shape::Integer { .. } => "a whole number".into(),
            Shape::Float => "a number".into(),
            Shape::String => match example {
                Some(e) => format!("a string like {e}"),
                None => "a string".into(),
            },
            Shape::OneOf(names) => format!("one of {}", quoted(names)),
            Shape::List(item) => format!("a list of {}", item.plural()),
            Shape::Map(_) | Shape::Table(_) => "a table".into(),
        }
    }

    fn plural(&self) -> &'static str {
        match self {
            Shape::Bool => "true or false values",
            Shape::Integer { .. } => "whole numbers",
            Shape::Float => "numbers",
            Shape::String | Shape::OneOf(_) => "strings",
            Shape::List(_) => "lists",
            Shape::Map(_) | Shape::Table(_) => "tables",
            Shape::Any => "values",
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The paths of every table with known keys, as the tracer names them.
fn table_paths(shape: &Shape, path: String, out: &mut Vec<String>) {
    match shape {
        Shape::Table(fields) => {
            for f in fields {
                table_paths(&f.shape, join(&path, f.name), out);
            }
            out.push(path);
        }
        Shape::List(item) => table_paths(item, format!("{path}[]"), out),
        Shape::Map(value) => table_paths(value, join(&path, "*"), out),
        _ => {}
    }
}

fn mark_required(shape: &mut Shape, path: &str, required: &[&str]) {
    fn find<'s>(shape: &'s mut Shape, here: String, path: &str) -> Option<&'s mut Vec<Field>> {
        if here == path {
            return match shape {
                Shape::Table(fields) => Some(fields),
                _ => None,
            };
        }
        match shape {
            Shape::Table(fields) => fields
                .iter_mut()
                .find_map(|f| find(&mut f.shape, join(&here, f.name), path)),
            Shape::List(item) => find(item, format!("{here}[]"), path),
            Shape::Map(value) => find(value, join(&here, "*"), path),
            _ => None,
        }
    }
    if let Some(fields) = find(shape, String::new(), path) {
        for f in fields {
            f.required = required.contains(&f.name);
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

// ---------------------------------------------------------------------------------------------
// Tracing a type: a deserializer that hands every visitor a sample value and records what was
// asked for.

/// Reading a struct at `path` with only the `given` keys, to learn which keys it needs.
struct Probe<'p> {
    path: &'p str,
    given: &'p [&'static str],
}

/// Nesting deeper than this is not traced (a type that contains itself).
const MAX_DEPTH: usize = 24;

fn trace<T: DeserializeOwned>(probe: Option<&Probe<'_>>) -> Shape {
    let mut shape = Shape::Any;
    let _ = T::deserialize(Tracer {
        out: &mut shape,
        path: String::new(),
        probe,
        depth: 0,
    });
    shape
}

fn try_trace<T: DeserializeOwned>(probe: Option<&Probe<'_>>) -> Result<(), TraceError> {
    let mut shape = Shape::Any;
    T::deserialize(Tracer {
        out: &mut shape,
        path: String::new(),
        probe,
        depth: 0,
    })
    .map(drop)
}

#[derive(Debug)]
struct TraceError {
    missing: Option<&'static str>,
    message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        TraceError {
            missing: None,
            message: msg.to_string(),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        TraceError {
            missing: Some(field),
            message: format!("missing field `{field}`"),
        }
    }
}

struct Tracer<'a, 'p> {
    out: &'a mut Shape,
    path: String,
    probe: Option<&'a Probe<'p>>,
    depth: usize,
}

impl<'a, 'p> Tracer<'a, 'p> {
    fn child<'b>(&'b self, out: &'b mut Shape, path: String) -> Tracer<'b, 'p>
    where
        'a: 'b,
    {
        Tracer {
            out,
            path,
            probe: self.probe,
            depth: self.depth + 1,
        }
    }
}

impl<'de> IntoDeserializer<'de, TraceError> for Tracer<'_, '_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! integers {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
            *self.out = Shape::Integer {
                min: i64::try_from(<$t>::MIN).unwrap_or(i64::MIN),
                max: i64::try_from(<$t>::MAX).unwrap_or(i64::MAX),
            };
            visitor.visit_u8(0)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Tracer<'_, '_> {
    type Error = TraceError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Any;
        visitor.visit_bool(false)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Bool;
        visitor.visit_bool(false)
    }

    integers!(
        deserialize_i8: i8, deserialize_i16: i16, deserialize_i32: i32, deserialize_i64: i64,
        deserialize_i128: i128, deserialize_u8: u8, deserialize_u16: u16,
        deserialize_u32: u32, deserialize_u64: u64, deserialize_u128: u128
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Float;
        visitor.visit_f32(0.0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Float;
        visitor.visit_f64(0.0)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::String;
        visitor.visit_char('x')
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::String;
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Any;
        visitor.visit_bytes(b"")
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Any;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let mut item = Shape::Any;
        let result = if self.depth < MAX_DEPTH {
            let path = format!("{}[]", self.path);
            visitor.visit_seq(OneItem(Some(self.child(&mut item, path))))
        } else {
            visitor.visit_seq(OneItem(None))
        };
        *self.out = Shape::List(Box::new(item));
        result
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Shape::Any;
        Err(de::Error::custom("tuples are not traced"))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let (mut key, mut value) = (Shape::Any, Shape::Any);
        let result = if self.depth < MAX_DEPTH {
            let path = join(&self.path, "*");
            visitor.visit_map(OneEntry {
                key: Some(self.child(&mut key, path.clone())),
                value: Some(self.child(&mut value, path)),
            })
        } else {
            visitor.visit_map(OneEntry {
                key: None,
                value: None,
            })
        };
        *self.out = Shape::Map(Box::new(value));
        result
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        if serde_spanned::de::is_spanned(name) {
            let path = self.path.clone();
            let depth = self.depth;
            let inner = Tracer {
                out: self.out,
                path,
                probe: self.probe,
                depth,
            };
            return visitor.visit_map(serde_spanned::de::SpannedDeserializer::new(inner, 0..0));
        }
        if self.depth >= MAX_DEPTH {
            *self.out = Shape::Any;
            return Err(de::Error::custom("nested too deep to trace"));
        }
        let given: Vec<&'static str> = match self.probe {
            Some(p) if p.path == self.path => fields
                .iter()
                .copied()
                .filter(|f| p.given.contains(f))
                .collect(),
            _ => fields.to_vec(),
        };
        let mut slots: Vec<Shape> = vec![Shape::Any; fields.len()];
        let result = visitor.visit_map(Fields {
            fields,
            given,
            next: 0,
            current: 0,
            slots: &mut slots,
            path: &self.path,
            probe: self.probe,
            depth: self.depth + 1,
        });
        *self.out = Shape::Table(
            fields
                .iter()
                .zip(slots)
                .map(|(name, shape)| Field {
                    name,
                    shape,
                    required: false,
                })
                .collect(),
        );
        result
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Shape::OneOf(variants);
        match variants.first() {
            Some(first) => visitor.visit_enum(UnitVariant(first)),
            None => Err(de::Error::custom("an enum without variants")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.deserialize_unit(visitor)
    }
}

/// A list of one traced item.
struct OneItem<'a, 'p>(Option<Tracer<'a, 'p>>);

impl<'de> de::SeqAccess<'de> for OneItem<'_, '_> {
    type Error = TraceError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        match self.0.take() {
            Some(t) => seed.deserialize(t).map(Some),
            None => Ok(None),
        }
    }
}

/// A map of one traced entry.
struct OneEntry<'a, 'p> {
    key: Option<Tracer<'a, 'p>>,
    value: Option<Tracer<'a, 'p>>,
}

impl<'de> de::MapAccess<'de> for OneEntry<'_, '_> {
    type Error = TraceError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        match self.key.take() {
            Some(t) => seed.deserialize(t).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        match self.value.take() {
            Some(t) => seed.deserialize(t),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}

/// A struct's keys, each with a traced value.
struct Fields<'s, 'p> {
    fields: &'static [&'static str],
    given: Vec<&'static str>,
    next: usize,
    current: usize,
    slots: &'s mut Vec<Shape>,
    path: &'s str,
    probe: Option<&'s Probe<'p>>,
    depth: usize,
}

impl<'de> de::MapAccess<'de> for Fields<'_, '_> {
    type Error = TraceError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        let Some(name) = self.given.get(self.next).copied() else {
            return Ok(None);
        };
        self.next += 1;
        self.current = self.fields.iter().position(|f| *f == name).unwrap_or(0);
        let key: StrDeserializer<'_, TraceError> = name.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        let path = join(self.path, self.fields[self.current]);
        let Some(slot) = self.slots.get_mut(self.current) else {
            return Err(de::Error::custom("a value without a key"));
        };
        seed.deserialize(Tracer {
            out: slot,
            path,
            probe: self.probe,
            depth: self.depth,
        })
    }
}

/// An enum read as its first unit variant.
struct UnitVariant(&'static str);

impl<'de> de::EnumAccess<'de> for UnitVariant {
    type Error = TraceError;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), TraceError> {
        let name: StrDeserializer<'_, TraceError> = self.0.into_deserializer();
        seed.deserialize(name).map(|v| (v, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        _seed: T,
    ) -> Result<T::Value, TraceError> {
        Err(de::Error::custom("only unit variants are traced"))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, TraceError> {
        Err(de::Error::custom("only unit variants are traced"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, TraceError> {
        Err(de::Error::custom("only unit variants are traced"))
    }
}

// ---------------------------------------------------------------------------------------------
// Walking a parsed file against a shape.

/// A parsed TOML file, checked against a [`Shape`] and pruned of what is wrong.
pub struct Document<'s> {
    src: &'s str,
    lines: LineIndex,
    table: Spanned<DeTable<'s>>,
    /// Whether [`Document::check`] reported an error (and so pruned something).
    pruned: bool,
}

impl<'s> Document<'s> {
    /// Parses TOML source; a syntax error is one problem, at its place.
    pub fn parse(src: &'s str) -> Result<Document<'s>, Diagnostic> {
        let lines = LineIndex::new(src);
        match DeTable::parse(src) {
            Ok(table) => Ok(Document {
                src,
                lines,
                table,
                pruned: false,
            }),
            Err(e) => {
                let pos = e.span().map_or((0, 0), |s| lines.position(src, s.start));
                Err(Diagnostic::error(pos, e.message().trim().to_owned())
                    .help("fix the TOML syntax at this position"))
            }
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.src, offset)
    }

    pub fn source(&self) -> &'s str {
        self.src
    }

    /// The parsed top-level table (after [`Document::check`], without what it refused).
    pub fn table(&self) -> &DeTable<'s> {
        self.table.get_ref()
    }

    /// Reports every unknown key, wrong type and missing key against `shape`, in file order,
    /// and removes the unknown and wrongly typed ones.
    pub fn check(&mut self, shape: &Shape, examples: Examples<'_>) -> Vec<Diagnostic> {
        let mut walk = Walk {
            src: self.src,
            lines: &self.lines,
            examples,
            diags: Vec::new(),
        };
        if let Shape::Table(fields) = shape {
            let span = self.table.span();
            walk.table(self.table.get_mut(), fields, &Place::root(), span);
        }
        let mut diags = walk.diags;
        diags.sort_by_key(|d| (d.line == 0, d.line, d.column));
        self.pruned |= !diags.is_empty();
        diags
    }

    /// Reads `T` from what is left. When that fails because of problems [`Document::check`]
    /// reported (a required key with a wrong type), the error is empty: those problems say it.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Vec<Diagnostic>> {
        T::deserialize(toml::de::Deserializer::from(self.table.clone())).map_err(|e| {
            if self.pruned {
                return Vec::new();
            }
            let pos = e.span().map_or((0, 0), |s| self.position(s.start));
            vec![Diagnostic::error(pos, in_words(e.message().trim())).help(serde_help(e.message()))]
        })
    }
}

/// serde's type names in the words a config error uses.
fn in_words(message: &str) -> String {
    let mut m = message.to_owned();
    for (from, to) in [
        ("expected u8", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected i8", "expected a whole number"),
        ("expected i16", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected isize", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list"),
        ("unknown field", "unknown key"),
        ("missing field", "missing key"),
    ] {
        m = m.replace(from, to);
    }
    m
}

fn serde_help(message: &str) -> &'static str {
    if message.starts_with("missing field") {
        "add the key"
    } else if message.starts_with("unknown") {
        "use one of the values the message lists"
    } else {
        "give the key a value of the expected type"
    }
}

/// Where a table is, for messages: its key path and how its header is written.
#[derive(Clone)]
struct Place {
    /// Dotted keys from the top (`plans.pro`), for messages.
    path: String,
    /// The same with `*` for a map's keys, for examples.
    schema: String,
    /// Whether it is an item of a list of tables (`[[routes]]`).
    item: bool,
}

impl Place {
    fn root() -> Place {
        Place {
            path: String::new(),
            schema: String::new(),
            item: false,
        }
    }

    fn key(&self, key: &str, schema_key: &str) -> Place {
        Place {
            path: join(&self.path, key),
            schema: join(&self.schema, schema_key),
            item: false,
        }
    }

    fn header(&self) -> String {
        if self.item {
            format!("[[{}]]", self.path)
        } else {
            format!("[{}]", self.path)
        }
    }

    /// What a message calls the value: `` `limits.rate` ``, or `` an item of `routes.methods` ``.
    fn subject(&self) -> String {
        if self.item {
            format!("an item of `{}`", self.path)
        } else {
            format!("`{}`", self.path)
        }
    }

    /// ` in [limits]`, or nothing at the top.
    fn within(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!(" in {}", self.header())
        }
    }
}

struct Walk<'w> {
    src: &'w str,
    lines: &'w LineIndex,
    examples: Examples<'w>,
    diags: Vec<Diagnostic>,
}

impl Walk<'_> {
    fn pos(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.src, offset)
    }

    fn example(&self, schema: &str) -> Option<&str> {
        self.examples
            .iter()
            .find(|(p, _)| *p == schema)
            .map(|(_, e)| *e)
    }

    fn table(&mut self, t: &mut DeTable<'_>, fields: &[Field], at: &Place, span: Range<usize>) {
        let mut refused = Vec::new();
        // Known names an unknown key was taken for: "did you mean" says they are missing.
        let mut suggested = Vec::new();
        for (key, value) in t.iter_mut() {
            let name = key.get_ref().as_ref();
            let Some(field) = fields.iter().find(|f| f.name == name) else {
                suggested.extend(self.unknown(key, value.get_ref(), fields, at));
                refused.push(key.clone());
                continue;
            };
            let place = at.key(name, name);
            if !self.value(value, &field.shape, &place) {
                refused.push(key.clone());
            }
        }
        for k in &refused {
            t.remove(k);
        }
        for f in fields.iter().filter(|f| f.required) {
            let present = |k: &Spanned<toml::de::DeString<'_>>| k.get_ref() == f.name;
            if refused.iter().any(present) || t.keys().any(present) || suggested.contains(&f.name) {
                continue;
            }
            let place = at.key(f.name, f.name);
            let pos = if at.path.is_empty() {
                (0, 0)
            } else {
                self.pos(span.start)
            };
            let what = f.shape.describe(self.example(&place.schema));
            let help = match self.example(&place.schema) {
                Some(e) => format!("add e.g. `{} = {e}`", f.name),
                None => format!("add `{}`: {what}", f.name),
            };
            self.diags.push(
                Diagnostic::error(pos, format!("missing key `{}`{}", f.name, at.within()))
                    .help(help),
            );
        }
    }

    /// Reports an unknown key; returns the known name suggested for it.
    fn unknown(
        &mut self,
        key: &Spanned<toml::de::DeString<'_>>,
        value: &DeValue<'_>,
        fields: &[Field],
        at: &Place,
    ) -> Option<&'static str> {
        let name = key.get_ref().as_ref();
        let names: Vec<&'static str> = fields.iter().map(|f| f.name).collect();
        let section = match value {
            DeValue::Table(_) => Some(format!("[{}]", join(&at.path, name))),
            DeValue::Array(items)
                if !items.is_empty() && items.iter().all(|i| i.get_ref().is_table()) =>
            {
                Some(format!("[[{}]]", join(&at.path, name)))
            }
            _ => None,
        };
        let near = crate::suggest::closest(name, &names);
        let (message, help) = match (&section, near) {
            (Some(s), Some(n)) => {
                let known = at.key(n, n);
                let brackets = if s.starts_with("[[") {
                    format!("[[{}]]", known.path)
                } else {
                    format!("[{}]", known.path)
                };
                (
                    format!("unknown section `{s}`"),
                    format!("did you mean `{brackets}`?"),
                )
            }
            (None, Some(n)) => (
                format!("unknown key `{name}`{}", at.within()),
                format!("did you mean `{n}`?"),
            ),
            (Some(s), None) => (format!("unknown section `{s}`"), known_keys(at, &names)),
            (None, None) => (
                format!("unknown key `{name}`{}", at.within()),
                known_keys(at, &names),
            ),
        };
        let pos = self.pos(key.span().start);
        self.diags.push(Diagnostic::error(pos, message).help(help));
        near
    }

    /// Checks one value; false when it is refused (and reported).
    fn value(&mut self, v: &mut Spanned<DeValue<'_>>, shape: &Shape, at: &Place) -> bool {
        let span = v.span();
        let ok = match (shape, v.get_mut()) {
            (Shape::Any, _) => true,
            (Shape::Bool, DeValue::Boolean(_)) => true,
            (Shape::Float, DeValue::Float(_) | DeValue::Integer(_)) => true,
            (Shape::String, DeValue::String(_)) => true,
            (Shape::Integer { min, max }, DeValue::Integer(i)) => {
                let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
                if n.is_some_and(|n| (*min..=*max).contains(&n)) {
                    return true;
                }
                let pos = self.pos(span.start);
                self.diags.push(
                    Diagnostic::error(
                        pos,
                        format!(
                            "{} must be a whole number from {min} to {max}, not `{}`",
                            at.subject(),
                            self.text(&span)
                        ),
                    )
                    .help("give a number in that range"),
                );
                return false;
            }
            (Shape::OneOf(names), DeValue::String(s)) => {
                if names.contains(&s.as_ref()) {
                    return true;
                }
                let help = match crate::suggest::closest(s, names) {
                    Some(n) => format!("did you mean \"{n}\"?"),
                    None => format!("use one of {}", quoted(names)),
                };
                let pos = self.pos(span.start);
                self.diags.push(
                    Diagnostic::error(
                        pos,
                        format!(
                            "{} must be {}, not `{}`",
                            at.subject(),
                            shape.describe(None),
                            self.text(&span)
                        ),
                    )
                    .help(help),
                );
                return false;
            }
            (Shape::List(item), DeValue::Array(items)) => {
                let item_place = Place {
                    item: true,
                    ..at.clone()
                };
                let mut keep = Vec::with_capacity(items.len());
                for mut i in std::mem::replace(items, std::iter::empty().collect()) {
                    if self.value(&mut i, item, &item_place) {
                        keep.push(i);
                    }
                }
                *items = keep.into_iter().collect();
                return true;
            }
            (Shape::Map(value), DeValue::Table(t)) => {
                let mut refused = Vec::new();
                for (k, val) in t.iter_mut() {
                    let place = Place {
                        path: join(&at.path, k.get_ref()),
                        schema: join(&at.schema, "*"),
                        item: false,
                    };
                    if !self.value(val, value, &place) {
                        refused.push(k.clone());
                    }
                }
                for k in &refused {
                    t.remove(k);
                }
                return true;
            }
            (Shape::Table(fields), DeValue::Table(t)) => {
                self.table(t, fields, at, span);
                return true;
            }
            _ => false,
        };
        if !ok {
            self.mismatch(&span, shape, at);
        }
        ok
    }

    fn mismatch(&mut self, span: &Range<usize>, shape: &Shape, at: &Place) {
        let example = self.example(&at.schema);
        let key = at.path.rsplit('.').next().unwrap_or(&at.path);
        let help = match (example, shape) {
            (Some(e), _) => format!("e.g. `{key} = {e}`"),
            (None, Shape::String) => "put the text in double quotes".to_owned(),
            (None, Shape::Integer { .. }) => "write the number without quotes".to_owned(),
            (None, Shape::Float) => "write the number without quotes, e.g. 0.5".to_owned(),
            (None, Shape::Bool) => {
                format!("write `{key} = true` or `{key} = false`, without quotes")
            }
            (None, Shape::OneOf(names)) => format!("use one of {}", quoted(names)),
            (None, Shape::List(item)) if matches!(**item, Shape::Table(_)) => {
                format!("write each one as a `[[{}]]` section", at.path)
            }
            (None, Shape::List(item)) => match **item {
                Shape::String => format!("write the strings in brackets, e.g. `{key} = [\"...\"]`"),
                _ => format!("write the items in brackets, e.g. `{key} = [...]`"),
            },
            (None, Shape::Table(_) | Shape::Map(_)) => {
                format!("write it as a `[{}]` section", at.path)
            }
            (None, Shape::Any) => "give it a value".to_owned(),
        };
        let what = shape.describe(example);
        let message = format!("{} must be {what}, not {}", at.subject(), self.found(span));
        let pos = self.pos(span.start);
        self.diags.push(Diagnostic::error(pos, message).help(help));
    }

    fn text(&self, span: &Range<usize>) -> &str {
        self.src.get(span.clone()).unwrap_or("")
    }

    /// The value as written when it is short, else what it is.
    fn found(&self, span: &Range<usize>) -> String {
        let text = self.text(span);
        if !text.is_empty() && text.len() <= 40 && !text.contains('\n') {
            return format!("`{text}`");
        }
        match text.trim_start().chars().next() {
            Some('[') => "a list".into(),
            Some('{') => "a table".into(),
            Some('"' | '\'') => "a string".into(),
            _ if text.is_empty() => "a table".into(),
            _ => "this value".into(),
        }
    }
}

fn known_keys(at: &Place, names: &[&str]) -> String {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    if at.path.is_empty() {
        format!("remove it; the keys here are: {}", sorted.join(", "))
    } else {
        format!(
            "remove it; the keys of {} are: {}",
            at.header(),
            sorted.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Policy {
        Open,
        Closed,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Route {
        path: Spanned<String>,
        #[serde(default)]
        methods: Vec<String>,
        auth: Option<bool>,
    }

    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        rate: Option<u32>,
        per_seconds: Option<u32>,
        counters: Option<Policy>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        listen: Option<Spanned<String>>,
        #[serde(default)]
        limits: Limits,
        #[serde(default)]
        routes: Vec<Spanned<Route>>,
        #[serde(default)]
        plans: BTreeMap<String, Limits>,
        ratio: Option<f64>,
    }

    #[test]
    fn shape_of_a_type() {
        let s = Shape::of::<Top>();
        let Shape::Table(fields) = &s else { panic!() };
        let names: Vec<_> = fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["listen", "limits", "routes", "plans", "ratio"]);
        let Shape::List(route) = &fields[2].shape else {
            panic!("{:?}", fields[2])
        };
        let Shape::Table(route) = &**route else {
            panic!()
        };
        assert!(
            route[0].required && !route[1].required && !route[2].required,
            "{route:?}"
        );
        assert_eq!(route[2].shape, Shape::Bool);
        let Shape::Table(limits) = &fields[1].shape else {
            panic!()
        };
        assert_eq!(limits[2].shape, Shape::OneOf(&["open", "closed"]));
    }

    #[test]
    fn every_problem_at_once_and_the_rest_still_read() {
        let src = "listen = 8080\nratio = \"x\"\n\n[limts]\nrate = 1\n\n[limits]\nper_second = 5\nrate = -1\ncounters = \"clsoed\"\n\n[[routes]]\nmethods = [\"GET\", 2]\nauht = true\npath = \"/a\"\n\n[[routes]]\n\n[plans.pro]\nrate = \"many\"\n";
        let mut doc = Document::parse(src).unwrap();
        let d = doc.check(&Shape::of::<Top>(), &[("listen", "\"127.0.0.1:8080\"")]);
        let out: Vec<String> = d.iter().map(|x| x.display("t.toml").to_string()).collect();
        assert_eq!(
            out.join("\n"),
            r#"t.toml:1:10: error: `listen` must be a string like "127.0.0.1:8080", not `8080`
  help: e.g. `listen = "127.0.0.1:8080"`
t.toml:2:9: error: `ratio` must be a number, not `"x"`
  help: write the number without quotes, e.g. 0.5
t.toml:4:2: error: unknown section `[limts]`
  help: did you mean `[limits]`?
t.toml:8:1: error: unknown key `per_second` in [limits]
  help: did you mean `per_seconds`?
t.toml:9:8: error: `limits.rate` must be a whole number from 0 to 4294967295, not `-1`
  help: give a number in that range
t.toml:10:12: error: `limits.counters` must be one of "open", "closed", not `"clsoed"`
  help: did you mean "closed"?
t.toml:13:19: error: an item of `routes.methods` must be a string, not `2`
  help: put the text in double quotes
t.toml:14:1: error: unknown key `auht` in [[routes]]
  help: did you mean `auth`?
t.toml:17:1: error: missing key `path` in [[routes]]
  help: add `path`: a string
t.toml:20:8: error: `plans.pro.rate` must be a whole number, not `"many"`
  help: write the number without quotes"#
        );
        // A required key is missing: nothing more to read, and nothing more to say.
        assert_eq!(doc.deserialize::<Top>().unwrap_err(), Vec::new());

        // Without it, the rest is read with the refused values left out.
        let fixed = src.replace("[[routes]]\n\n", "[[routes]]\npath = \"/b\"\n");
        let mut doc = Document::parse(&fixed).unwrap();
        assert_eq!(doc.check(&Shape::of::<Top>(), &[]).len(), 9);
        let top: Top = doc.deserialize().unwrap();
        assert_eq!(top.routes.len(), 2);
        assert_eq!(top.routes[0].get_ref().methods, ["GET"]);
        assert!(
            top.listen.is_none() && top.limits.rate.is_none() && top.plans["pro"].rate.is_none()
        );
    }

    #[test]
    fn a_syntax_error_is_one_problem() {
        let e = Document::parse("a = 1\nb = \n").err().unwrap();
        assert_eq!((e.line, e.column), (2, 5));
    }
}
