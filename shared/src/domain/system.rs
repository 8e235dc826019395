//! Which WMS a record belongs to: an open, validated system name each adapter declares for itself.

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Which WMS an id belongs to: an open name (`logiwa`, `linnworks`, …) that each adapter declares for
/// itself with [`WmsSystem::named`], so adding a WMS adds no variant here. Cheap to copy; names are
/// lower-case ASCII letters, digits and `-`, at most 32 characters (they go into keys and routes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WmsSystem(&'static str);

/// Distinct names [`WmsSystem::parse`] keeps: a deployment has a handful of systems, so more than this
/// is a malformed message, not a new WMS (and interning stays bounded).
const MAX_SYSTEMS: usize = 64;

impl WmsSystem {
    /// A system name known at compile time (an adapter's constant). An invalid name fails the build.
    pub const fn named(name: &'static str) -> Self {
        assert!(
            valid_system_name(name),
            "WMS system names are 1 to 32 of a-z, 0-9 and -"
        );
        Self(name)
    }

    /// A system name read at run time (a queued message, a route).
    ///
    /// # Errors
    /// `ValidationError` on field `system` for a malformed name, or past the bound on distinct names.
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        static SEEN: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        if !valid_system_name(name) {
            return Err(ValidationError::new(
                "system",
                "a WMS system name is 1 to 32 lower-case letters, digits or '-'",
            ));
        }
        let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = seen.iter().find(|k| **k == name) {
            return Ok(Self(known));
        }
        if seen.len() >= MAX_SYSTEMS {
            return Err(ValidationError::new(
                "system",
                format!("more than {MAX_SYSTEMS} distinct WMS system names"),
            ));
        }
        // Leaked once per distinct name, bounded above.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        seen.push(name);
        Ok(Self(name))
    }

    /// Lower-case name used in keys, routes and logs.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

const fn valid_system_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 32 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

impl std::fmt::Debug for WmsSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::fmt::Display for WmsSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for WmsSystem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for WmsSystem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&name).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::WmsSystem;

    #[test]
    fn a_system_name_read_at_run_time_equals_the_adapters_constant_and_round_trips_through_json() {
        const LW: WmsSystem = WmsSystem::named("logiwa");
        let parsed = WmsSystem::parse("logiwa").expect("valid");
        assert_eq!(parsed, LW);
        let json = serde_json::to_string(&LW).expect("json");
        assert_eq!(json, "\"logiwa\"");
        assert_eq!(serde_json::from_str::<WmsSystem>(&json).expect("back"), LW);
    }

    #[test]
    fn a_malformed_system_name_is_refused_naming_the_field() {
        for bad in ["", "Logiwa", "lo giwa", "logiwa#1", &"x".repeat(33)] {
            let err = WmsSystem::parse(bad).expect_err(bad);
            assert_eq!(err.field, "system");
        }
        assert!(serde_json::from_str::<WmsSystem>("\"LOGIWA\"").is_err());
    }
}
