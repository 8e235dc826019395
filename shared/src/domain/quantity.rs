//! Quantities with their unit of measure, and ISO 4217 currency codes.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{bounded_string, ValidationError};

bounded_string!(
    /// A unit of measure code as one system names it (Salesforce `QuantityUnitOfMeasure`, Logiwa `packType`).
    UnitOfMeasure,
    "unit",
    40
);

/// A non-negative quantity in a named unit. Mixing units is a mapping error, never silent arithmetic.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    value: Decimal,
    unit: UnitOfMeasure,
}

impl Quantity {
    /// A quantity of `value` in `unit`.
    ///
    /// # Errors
    /// `ValidationError` on a negative value or more than 4 decimal places (no system we sync
    /// with stores finer quantities; more precision signals a unit mix-up).
    pub fn new(value: Decimal, unit: UnitOfMeasure) -> Result<Self, ValidationError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(ValidationError::new(
                "quantity",
                format!("must not be negative, got {value}"),
            ));
        }
        if value.normalize().scale() > 4 {
            return Err(ValidationError::new(
                "quantity",
                format!("has more than 4 decimal places: {value}"),
            ));
        }
        Ok(Self {
            value: value.normalize(),
            unit,
        })
    }

    /// The numeric value.
    pub fn value(&self) -> Decimal {
        self.value
    }

    /// The unit of measure.
    pub fn unit(&self) -> &UnitOfMeasure {
        &self.unit
    }

    /// The value as a whole number, for systems that only take integers (Logiwa `packQuantity` is int32).
    ///
    /// # Errors
    /// `ValidationError` when the value has a fractional part or does not fit in `i32`.
    pub fn whole(&self) -> Result<i32, ValidationError> {
        if !self.value.fract().is_zero() {
            return Err(ValidationError::new(
                "quantity",
                format!("must be a whole number of {}, got {}", self.unit, self.value),
            ));
        }
        i32::try_from(self.value.mantissa() / 10i128.pow(self.value.scale()))
            .map_err(|_| ValidationError::new("quantity", format!("{} is too large", self.value)))
    }

    /// Multiplies by a conversion factor and relabels the unit (e.g. 2 CASE × 12 → 24 EA).
    ///
    /// # Errors
    /// `ValidationError` when the factor is not positive or the result overflows.
    pub fn convert(&self, factor: Decimal, to: UnitOfMeasure) -> Result<Self, ValidationError> {
        if factor <= Decimal::ZERO {
            return Err(ValidationError::new(
                "unit",
                format!("conversion factor must be positive, got {factor}"),
            ));
        }
        let value = self
            .value
            .checked_mul(factor)
            .ok_or_else(|| ValidationError::new("quantity", "overflow while converting units"))?;
        Self::new(value, to)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

/// An ISO 4217 alphabetic currency code (three upper-case letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Parses a currency code; lower case is accepted and upper-cased.
    ///
    /// # Errors
    /// `ValidationError` unless the value is exactly three ASCII letters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let bytes = s.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(ValidationError::new(
                "currency",
                format!("must be a 3-letter ISO 4217 code, got '{s}'"),
            ));
        }
        Ok(Self([
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ]))
    }

    /// The code, e.g. `USD`.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CurrencyCode> for String {
    fn from(value: CurrencyCode) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("decimal literal")
    }

    fn ea() -> UnitOfMeasure {
        UnitOfMeasure::parse("EA").expect("unit")
    }

    #[test]
    fn a_negative_quantity_is_rejected() {
        assert!(Quantity::new(dec("-1"), ea()).is_err());
    }

    #[test]
    fn a_whole_quantity_converts_to_an_integer_but_a_fraction_does_not() {
        assert_eq!(Quantity::new(dec("3.000"), ea()).expect("q").whole().expect("whole"), 3);
        let err = Quantity::new(dec("2.5"), ea())
            .expect("q")
            .whole()
            .expect_err("fraction");
        assert!(err.message.contains("whole number"), "{err}");
    }

    #[test]
    fn converting_cases_to_eaches_multiplies_and_relabels() {
        let cases = Quantity::new(dec("2"), UnitOfMeasure::parse("CASE").expect("u")).expect("q");
        let each = cases.convert(dec("12"), ea()).expect("convert");
        assert_eq!(each.value(), dec("24"));
        assert_eq!(each.unit().as_str(), "EA");
    }

    #[test]
    fn currency_codes_are_upper_cased_and_must_have_three_letters() {
        assert_eq!(CurrencyCode::parse("usd").expect("ok").as_str(), "USD");
        assert!(CurrencyCode::parse("US").is_err());
        assert!(CurrencyCode::parse("U5D").is_err());
    }
}
