//! `MappingSource` on DynamoDB: one partition per WMS and mapping table (`map#<system>#<table>`), plus the
//! seeding helper.

use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use rust_decimal::Decimal;
use tracing::{debug, instrument};

use super::item::{opt_bool, opt_s, req_s, s, Item};
use super::{bulk, keys, DynamoState};
use crate::mapping::{MappingTables, Table, TableName, Target};
use crate::ports::{MappingSource, StoreError, WmsSystem};

const PASSTHROUGH: &str = "passthrough";
const TARGET: &str = "target";
const FACTOR: &str = "factor";
const SERVICE: &str = "service";

#[async_trait]
impl MappingSource for DynamoState {
    #[instrument(skip_all, fields(system = %system))]
    async fn load(&self, system: WmsSystem) -> Result<MappingTables, StoreError> {
        let [sku, unit, warehouse, carrier] = TableName::ALL.map(|name| self.load_table(system, name));
        let (sku, unit, warehouse, carrier) = futures::try_join!(sku, unit, warehouse, carrier)?;
        let tables = MappingTables {
            sku,
            unit,
            warehouse,
            carrier,
        };
        debug!(
            sku = tables.sku.entries.len(),
            unit = tables.unit.entries.len(),
            warehouse = tables.warehouse.entries.len(),
            carrier = tables.carrier.entries.len(),
            "mapping tables loaded"
        );
        Ok(tables)
    }
}

impl DynamoState {
    async fn load_table(&self, system: WmsSystem, name: TableName) -> Result<Table, StoreError> {
        let pk = keys::mapping(system, name);
        decode_table(&pk, &self.query_partition(&pk).await?)
    }
}

/// Writes every table (a `#meta` item with `passthrough`, one item per entry). Upserts only: entries
/// missing from `tables` but present in DynamoDB are left alone.
///
/// # Errors
/// `Unavailable` when DynamoDB refuses the writes; `Malformed` when a source value is empty or starts
/// with `#` (reserved for metadata items).
#[instrument(skip_all, fields(table = %table, system = %system))]
pub async fn put_mapping_tables(
    client: &Client,
    table: &str,
    system: WmsSystem,
    tables: &MappingTables,
) -> Result<(), StoreError> {
    let mut items = Vec::new();
    for name in TableName::ALL {
        let pk = keys::mapping(system, name);
        let t = tables.table(name);
        items.push(Item::from([
            ("pk".to_owned(), s(&pk)),
            ("sk".to_owned(), s(keys::MAPPING_META_SK)),
            (PASSTHROUGH.to_owned(), AttributeValue::Bool(t.passthrough)),
        ]));
        for (source, target) in &t.entries {
            if source.is_empty() || source.starts_with('#') {
                return Err(StoreError::Malformed {
                    key: format!("{pk}/{source}"),
                    reason: "source values must be non-empty and must not start with '#'".into(),
                });
            }
            items.push(encode_entry(&pk, source, target));
        }
    }
    bulk::put_all(client, table, items).await
}

fn encode_entry(pk: &str, source: &str, target: &Target) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(source)),
        (TARGET.to_owned(), s(&target.value)),
    ]);
    if let Some(f) = target.factor {
        item.insert(FACTOR.to_owned(), AttributeValue::N(f.normalize().to_string()));
    }
    if let Some(svc) = &target.service {
        item.insert(SERVICE.to_owned(), s(svc));
    }
    item
}

/// Decodes one table's items. Any malformed entry fails the whole load: a half-loaded SKU table would
/// park good orders as `MAPPING_MISSING` instead of surfacing the bad entry.
fn decode_table(pk: &str, items: &[Item]) -> Result<Table, StoreError> {
    let mut table = Table::default();
    for item in items {
        let sk = req_s(item, "sk").map_err(|e| StoreError::Malformed {
            key: pk.to_owned(),
            reason: e.to_string(),
        })?;
        let malformed = |reason: String| StoreError::Malformed {
            key: format!("{pk}/{sk}"),
            reason,
        };
        if sk == keys::MAPPING_META_SK {
            table.passthrough = opt_bool(item, PASSTHROUGH)
                .map_err(|e| malformed(e.to_string()))?
                .unwrap_or(false);
            continue;
        }
        let value = req_s(item, TARGET).map_err(|e| malformed(e.to_string()))?.to_owned();
        let factor = decode_factor(item).map_err(malformed)?;
        let service = opt_s(item, SERVICE)
            .map_err(|e| malformed(e.to_string()))?
            .map(str::to_owned);
        table.entries.insert(sk.to_owned(), Target { value, factor, service });
    }
    Ok(table)
}

/// `factor` as N, or as S holding a decimal (what an operator typing into the console tends to do).
fn decode_factor(item: &Item) -> Result<Option<Decimal>, String> {
    let raw = match item.get(FACTOR) {
        None | Some(AttributeValue::Null(_)) => return Ok(None),
        Some(AttributeValue::N(v) | AttributeValue::S(v)) => v.trim(),
        Some(_) => return Err("attribute factor is not a number".into()),
    };
    let factor = Decimal::from_str(raw)
        .or_else(|_| Decimal::from_scientific(raw))
        .map_err(|_| "attribute factor is not a decimal".to_owned())?;
    if factor <= Decimal::ZERO {
        return Err("attribute factor must be positive".into());
    }
    Ok(Some(factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pk: &str, passthrough: AttributeValue) -> Item {
        Item::from([
            ("pk".to_owned(), s(pk)),
            ("sk".to_owned(), s(keys::MAPPING_META_SK)),
            (PASSTHROUGH.to_owned(), passthrough),
        ])
    }

    #[test]
    fn entries_round_trip_through_items_with_factor_and_service() {
        let target = Target {
            value: "Unit".into(),
            factor: Some(Decimal::new(1250, 2)),
            service: Some("Ground".into()),
        };
        let items = vec![
            meta("map#unit", AttributeValue::Bool(true)),
            encode_entry("map#unit", "Case", &target),
        ];
        let table = decode_table("map#unit", &items).expect("decodes");
        assert!(table.passthrough);
        assert_eq!(table.entries.get("Case"), Some(&target));
    }

    #[test]
    fn a_factor_may_be_a_string_decimal_but_not_garbage_or_zero() {
        let mut item = encode_entry(
            "map#unit",
            "Case",
            &Target {
                value: "EA".into(),
                factor: None,
                service: None,
            },
        );
        item.insert(FACTOR.into(), AttributeValue::S(" 12 ".into()));
        assert_eq!(decode_factor(&item), Ok(Some(Decimal::from(12))));
        item.insert(FACTOR.into(), AttributeValue::N("1.2E+1".into()));
        assert_eq!(decode_factor(&item), Ok(Some(Decimal::from(12))));
        item.insert(FACTOR.into(), AttributeValue::S("twelve".into()));
        assert!(decode_factor(&item).is_err());
        item.insert(FACTOR.into(), AttributeValue::N("0".into()));
        assert!(decode_factor(&item).is_err());
    }

    #[test]
    fn a_malformed_entry_names_its_key() {
        let mut item = encode_entry(
            "map#sku",
            "SF-1",
            &Target {
                value: "W-1".into(),
                factor: None,
                service: None,
            },
        );
        item.remove(TARGET);
        let err = decode_table("map#sku", &[item]).expect_err("malformed");
        assert!(
            matches!(&err, StoreError::Malformed { key, .. } if key == "map#sku/SF-1"),
            "{err:?}"
        );
        let err = decode_table("map#sku", &[meta("map#sku", s("yes"))]).expect_err("malformed");
        assert!(
            matches!(&err, StoreError::Malformed { key, .. } if key == "map#sku/#meta"),
            "{err:?}"
        );
    }
}
