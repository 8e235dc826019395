//! Validated identifiers: Salesforce record ids (with the 18-character checksum), WMS ids, event and correlation ids.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

/// A Salesforce record id, always held in its 18-character, case-insensitive-safe form.
///
/// Salesforce ids are 15 case-sensitive characters plus, in the 18-character form, a 3-character
/// suffix that encodes which of the 15 characters are upper case. A wrong suffix means the id was
/// mangled (for example lower-cased by a spreadsheet) and would address a different record, so we
/// reject it instead of trusting it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesforceId(String);

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

impl SalesforceId {
    /// Parses a 15- or 18-character id; a 15-character id is extended with its checksum.
    ///
    /// # Errors
    /// `ValidationError` when the length is not 15/18, a character is not ASCII alphanumeric,
    /// or the 18-character suffix does not match the checksum of the first 15 characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "salesforce_id";
        let s = raw.trim();
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ValidationError::new(
                field,
                "must contain only ASCII letters and digits",
            ));
        }
        match s.len() {
            15 => Ok(Self(format!("{s}{}", checksum(s)))),
            18 => {
                let (base, suffix) = s.split_at(15);
                let expected = checksum(base);
                // The suffix itself is case-insensitive by design.
                if suffix.eq_ignore_ascii_case(&expected) {
                    Ok(Self(format!("{base}{expected}")))
                } else {
                    Err(ValidationError::new(
                        field,
                        format!("checksum suffix '{suffix}' does not match the id (expected '{expected}')"),
                    ))
                }
            }
            n => Err(ValidationError::new(
                field,
                format!("must be 15 or 18 characters, got {n}"),
            )),
        }
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 15-character, case-sensitive form.
    pub fn as_15(&self) -> &str {
        &self.0[..15]
    }

    /// The 3-character key prefix that names the object type (e.g. `0a3` for FulfillmentOrder).
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }
}

/// Computes the 3-character checksum suffix for a 15-character id.
fn checksum(base15: &str) -> String {
    base15
        .as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk.iter().enumerate().fold(
                0usize,
                |acc, (i, b)| if b.is_ascii_uppercase() { acc | (1 << i) } else { acc },
            );
            CHECKSUM_ALPHABET[bits] as char
        })
        .collect()
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SalesforceId({})", self.0)
    }
}

impl Serialize for SalesforceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SalesforceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for SalesforceId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Declares a bounded, trimmed, printable string newtype with serde support.
macro_rules! bounded_string {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses a `", stringify!($name), "`: trimmed, non-empty, at most ", stringify!($max), " characters, no control characters.")]
            ///
            /// # Errors
            /// `ValidationError` naming the field when the value is empty, too long or contains control characters.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                $crate::domain::validate_text($field, raw, $max).map(|s| Self(s.to_owned()))
            }

            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use bounded_string;

bounded_string!(
    /// The id a WMS gives an order (Logiwa: a GUID; Linnworks: `pkOrderId`; OrderFlow: our external reference).
    WmsOrderId,
    "wms_order_id",
    128
);

bounded_string!(
    /// The id of one notification from a source system, used as the deduplication key for webhooks.
    EventId,
    "event_id",
    255
);

bounded_string!(
    /// The id that follows one exchange through every log line, queue message and API call.
    CorrelationId,
    "correlation_id",
    128
);

impl CorrelationId {
    /// A fresh random correlation id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_15_character_id_is_extended_with_its_checksum() {
        // Given a well-known 15-character id (Salesforce docs example: 001D000000IRt53 -> 001D000000IRt53IAD)
        let id = SalesforceId::parse("001D000000IRt53").expect("valid");
        // Then the 18-character form carries the checksum
        assert_eq!(id.as_str(), "001D000000IRt53IAD");
        assert_eq!(id.as_15(), "001D000000IRt53");
    }

    #[test]
    fn an_18_character_id_with_a_wrong_checksum_is_rejected() {
        let err = SalesforceId::parse("001D000000IRt53AAA").expect_err("bad checksum");
        assert_eq!(err.field, "salesforce_id");
        assert!(err.message.contains("checksum"), "{err}");
    }

    #[test]
    fn a_lower_cased_18_character_id_is_rejected_because_its_case_was_lost() {
        // Lower-casing keeps the suffix valid-looking but changes the record addressed.
        assert!(SalesforceId::parse("001d000000irt53iad").is_err());
    }

    #[test]
    fn the_checksum_suffix_is_accepted_in_any_case() {
        let id = SalesforceId::parse("001D000000IRt53iad").expect("suffix is case-insensitive");
        assert_eq!(id.as_str(), "001D000000IRt53IAD");
    }

    #[test]
    fn ids_of_other_lengths_or_with_symbols_are_rejected() {
        assert!(SalesforceId::parse("001D000000IRt5").is_err());
        assert!(SalesforceId::parse("001D000000IRt5-").is_err());
        assert!(SalesforceId::parse("").is_err());
    }

    proptest! {
        #[test]
        fn every_15_character_id_round_trips_through_its_18_character_form(base in "[a-zA-Z0-9]{15}") {
            let id = SalesforceId::parse(&base).expect("valid");
            prop_assert_eq!(id.as_15(), base.as_str());
            let again = SalesforceId::parse(id.as_str()).expect("18-char form is valid");
            prop_assert_eq!(again, id);
        }
    }
}
