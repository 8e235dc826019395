//! Registries keyed by system (`logiwa`, …): the functions look connectors and parsers up by the system a
//! message or a route names, instead of being wired to one vendor.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Something that serves one system.
pub trait ForSystem {
    /// The system's name, as routes and messages spell it.
    fn system_name(&self) -> String;
}

impl ForSystem for dyn crate::ports::InboundParser {
    fn system_name(&self) -> String {
        self.system().as_str().to_owned()
    }
}

impl ForSystem for dyn crate::ports::WmsConnector {
    fn system_name(&self) -> String {
        self.system().as_str().to_owned()
    }
}

/// One item per system.
pub struct Registry<T: ?Sized> {
    by_system: BTreeMap<String, Arc<T>>,
}

impl<T: ?Sized> std::fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_system.keys()).finish()
    }
}

impl<T: ?Sized> Default for Registry<T> {
    fn default() -> Self {
        Self {
            by_system: BTreeMap::new(),
        }
    }
}

impl<T: ForSystem + ?Sized> Registry<T> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the item for its system.
    #[must_use]
    pub fn with(mut self, item: Arc<T>) -> Self {
        self.by_system.insert(item.system_name(), item);
        self
    }

    /// The item for a system, matched case-insensitively.
    pub fn get(&self, system: &str) -> Option<&Arc<T>> {
        self.by_system.get(&system.to_ascii_lowercase())
    }

    /// The systems served.
    pub fn systems(&self) -> impl Iterator<Item = &str> {
        self.by_system.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_parser_is_found_by_the_system_a_route_names_whatever_the_case() {
        let reg = crate::adapters::inbound_parsers();
        assert!(reg.get("logiwa").is_some());
        assert!(reg.get("Logiwa").is_some());
        assert!(reg.get("linnworks").is_none());
        assert_eq!(reg.get("logiwa").map(|p| p.system().as_str()), Some("logiwa"));
        assert_eq!(reg.systems().collect::<Vec<_>>(), vec!["logiwa"]);
    }
}
