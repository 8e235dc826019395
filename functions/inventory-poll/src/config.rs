//! inventory-poll configuration, read once at cold start.

use std::time::Duration;

use rust_decimal::Decimal;
use waybill::config::{keys, ConfigError, Env};

/// Warehouses to poll (WMS identifiers).
pub const WAREHOUSES: &str = "LOGIWA_WAREHOUSES";
/// Largest share (0..=1) of a warehouse's positions one poll may zero or stop updating.
pub const MAX_ZERO_SHARE: &str = "INVENTORY_MAX_ZERO_SHARE";
/// How far before the watermark each change-feed read starts.
pub const CHANGES_OVERLAP_SECONDS: &str = "INVENTORY_CHANGES_OVERLAP_SECONDS";
/// How often the warehouse is listed in full instead of read through the change feed.
pub const FULL_SCAN_SECONDS: &str = "INVENTORY_FULL_SCAN_SECONDS";
/// Above this many changed SKUs, one full listing is cheaper than re-reading each.
pub const CHANGES_MAX_SKUS: &str = "INVENTORY_CHANGES_MAX_SKUS";

/// Settings of the inventory-poll function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// WMS warehouses to poll (identifiers as the WMS knows them).
    pub warehouses: Vec<String>,
    /// The guard: a poll that would zero, or stop updating (mapping lost), more than this share of the
    /// positions Salesforce holds for a warehouse sends nothing for it (default 0.2).
    pub max_zero_share: Decimal,
    /// Each change-feed read starts this long before the watermark (default 300 s), so a transaction the
    /// WMS records late, or one stamped with the same instant as the previous poll's end, is still read.
    pub changes_overlap: Duration,
    /// A full listing at least this often (default 3600 s): it catches what the feed may not carry
    /// (e.g. allocations, which the spec does not list as transactions) and re-bases the snapshot.
    pub full_scan_every: Duration,
    /// More changed SKUs than this in one window → list in full instead (default 100).
    pub changes_max_skus: usize,
    /// Deployment environment, a dimension of the guard metric (`WAYBILL_ENV`, default `local`).
    pub environment: String,
}

impl Config {
    /// Defaults for everything but the warehouses.
    pub fn new(warehouses: Vec<String>) -> Self {
        Self {
            warehouses,
            max_zero_share: Decimal::new(2, 1),
            changes_overlap: Duration::from_secs(300),
            full_scan_every: Duration::from_secs(3600),
            changes_max_skus: 100,
            environment: "local".into(),
        }
    }

    /// Reads the configuration.
    ///
    /// # Errors
    /// `ConfigError` when no warehouse is configured or a setting is out of range.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let warehouses = env.list(WAREHOUSES);
        if warehouses.is_empty() {
            return Err(ConfigError::Missing { key: WAREHOUSES.into() });
        }
        let d = Self::new(warehouses);
        let max_zero_share: Decimal = env.parse_or(MAX_ZERO_SHARE, d.max_zero_share)?;
        if max_zero_share < Decimal::ZERO || max_zero_share > Decimal::ONE {
            return Err(ConfigError::Invalid {
                key: MAX_ZERO_SHARE.into(),
                reason: "must be a share between 0 and 1, e.g. 0.2".into(),
            });
        }
        let changes_max_skus = env.parse_or(CHANGES_MAX_SKUS, d.changes_max_skus)?;
        if changes_max_skus == 0 {
            return Err(ConfigError::Invalid {
                key: CHANGES_MAX_SKUS.into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            max_zero_share,
            changes_overlap: env.seconds_or(CHANGES_OVERLAP_SECONDS, d.changes_overlap.as_secs())?,
            full_scan_every: env.seconds_or(FULL_SCAN_SECONDS, d.full_scan_every.as_secs())?,
            changes_max_skus,
            environment: env.or(keys::ENVIRONMENT, &d.environment),
            ..d
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_take_their_defaults() {
        let c = Config::from_env(&Env::from_pairs(&[(WAREHOUSES, "a, b")])).expect("valid");
        assert_eq!(c, Config::new(vec!["a".into(), "b".into()]));
        assert_eq!(c.max_zero_share.to_string(), "0.2");
    }

    #[test]
    fn every_setting_is_read_from_its_variable() {
        let c = Config::from_env(&Env::from_pairs(&[
            (WAREHOUSES, "a"),
            (MAX_ZERO_SHARE, "0.05"),
            (CHANGES_OVERLAP_SECONDS, "60"),
            (FULL_SCAN_SECONDS, "0"),
            (CHANGES_MAX_SKUS, "7"),
            ("WAYBILL_ENV", "prod"),
        ]))
        .expect("valid");
        assert_eq!(c.max_zero_share, Decimal::new(5, 2));
        assert_eq!(c.changes_overlap, Duration::from_secs(60));
        assert_eq!(c.full_scan_every, Duration::ZERO);
        assert_eq!(c.changes_max_skus, 7);
        assert_eq!(c.environment, "prod");
    }

    #[test]
    fn a_share_outside_zero_to_one_is_refused_naming_the_variable() {
        for bad in ["1.5", "-0.1", "twenty"] {
            let err = Config::from_env(&Env::from_pairs(&[(WAREHOUSES, "a"), (MAX_ZERO_SHARE, bad)])).expect_err(bad);
            assert!(
                matches!(&err, ConfigError::Invalid { key, .. } if key == MAX_ZERO_SHARE),
                "{bad}: {err}"
            );
        }
        assert!(Config::from_env(&Env::from_pairs(&[])).is_err());
    }
}
