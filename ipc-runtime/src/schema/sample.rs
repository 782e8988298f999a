//! [`AnySample`]: a message received by an end of any type, with the schema that decodes
//! it.

use super::{SchemaTree, Value, ValueError};

/// A message received by an end of any type ([`AnySubscriber`](crate::shm::AnySubscriber),
/// [`shm::AnyReceiver`](crate::shm::AnyReceiver), [`mq::AnyReceiver`](crate::mq::AnyReceiver)):
/// its bytes (a copy: no peer can change them) and the schema the channel carries. Derefs
/// to the bytes.
#[derive(Clone, Copy, Debug)]
pub struct AnySample<'a> {
    bytes: &'a [u8],
    schema: &'a SchemaTree,
    slice: bool,
}

impl<'a> AnySample<'a> {
    pub(crate) fn new(bytes: &'a [u8], schema: &'a SchemaTree, slice: bool) -> Self {
        AnySample {
            bytes,
            schema,
            slice,
        }
    }

    /// The message's bytes: one message of the schema's size, or, on a channel of
    /// slices, the elements back to back.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The schema of the message (of each element, on a channel of slices).
    pub fn schema(&self) -> &'a SchemaTree {
        self.schema
    }

    /// True if the message is a slice: a whole number of elements of the schema's type.
    pub fn is_slice(&self) -> bool {
        self.slice
    }

    /// Elements of a slice (1 for a message).
    pub fn len(&self) -> usize {
        if self.slice {
            self.bytes.len() / self.schema.size().max(1)
        } else {
            1
        }
    }

    /// True for a slice of no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message decoded by its schema ([`Value::from_bytes`]); a slice as a
    /// [`Value::Array`] of its elements. Every value is checked for its type.
    ///
    /// # Errors
    ///
    /// [`ValueError`] naming the field whose bytes are no value of its type (an enum
    /// discriminant no variant has, a `bool` that is neither 0 nor 1, a `FixedStr` that
    /// is not UTF-8).
    pub fn decode(&self) -> Result<Value, ValueError> {
        if !self.slice {
            return Value::from_bytes(self.schema, self.bytes);
        }
        let size = self.schema.size().max(1);
        let items = self
            .bytes
            .chunks(size)
            .map(|e| Value::from_bytes(self.schema, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Array(items))
    }
}

impl core::ops::Deref for AnySample<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}
