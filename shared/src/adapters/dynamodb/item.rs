//! Typed reads and writes of DynamoDB attribute maps, so decoding errors name the attribute instead of panicking.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

/// A DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

/// An attribute is missing or has the wrong type. Never carries the value (it may be a payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {attr} {problem}")]
pub struct AttrError {
    /// The attribute name.
    pub attr: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl AttrError {
    fn new(attr: &'static str, problem: &'static str) -> Self {
        Self { attr, problem }
    }
}

/// A string attribute.
pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(super) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A required string attribute.
pub(super) fn req_s<'a>(item: &'a Item, attr: &'static str) -> Result<&'a str, AttrError> {
    opt_s(item, attr)?.ok_or(AttrError::new(attr, "is missing"))
}

/// An optional string attribute (absent or NULL is `None`; any other type is an error).
pub(super) fn opt_s<'a>(item: &'a Item, attr: &'static str) -> Result<Option<&'a str>, AttrError> {
    match item.get(attr) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
        Some(_) => Err(AttrError::new(attr, "is not a string")),
    }
}

/// A required number attribute.
pub(super) fn req_n<T: FromStr>(item: &Item, attr: &'static str) -> Result<T, AttrError> {
    opt_n(item, attr)?.ok_or(AttrError::new(attr, "is missing"))
}

/// An optional number attribute.
pub(super) fn opt_n<T: FromStr>(item: &Item, attr: &'static str) -> Result<Option<T>, AttrError> {
    match item.get(attr) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| AttrError::new(attr, "is not a valid number")),
        Some(_) => Err(AttrError::new(attr, "is not a number")),
    }
}

/// An optional boolean attribute.
pub(super) fn opt_bool(item: &Item, attr: &'static str) -> Result<Option<bool>, AttrError> {
    match item.get(attr) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::Bool(v)) => Ok(Some(*v)),
        Some(_) => Err(AttrError::new(attr, "is not a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn typed_reads_name_the_attribute_that_is_missing_or_mistyped() {
        let i = item(&[
            ("a", s("x")),
            ("b", n(42)),
            ("c", AttributeValue::Bool(true)),
            ("d", n("4x")),
        ]);
        assert_eq!(req_s(&i, "a"), Ok("x"));
        assert_eq!(req_n::<i64>(&i, "b"), Ok(42));
        assert_eq!(opt_bool(&i, "c"), Ok(Some(true)));
        assert_eq!(opt_s(&i, "zz"), Ok(None));
        assert_eq!(req_s(&i, "zz"), Err(AttrError::new("zz", "is missing")));
        assert_eq!(req_s(&i, "b"), Err(AttrError::new("b", "is not a string")));
        assert_eq!(req_n::<i64>(&i, "a"), Err(AttrError::new("a", "is not a number")));
        assert_eq!(req_n::<i64>(&i, "d"), Err(AttrError::new("d", "is not a valid number")));
        assert_eq!(opt_bool(&i, "a"), Err(AttrError::new("a", "is not a boolean")));
    }
}
