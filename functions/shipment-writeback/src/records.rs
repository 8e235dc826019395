//! Turns a WMS shipment into Salesforce Shipment and ShipmentItem records: SKUs and units mapped back,
//! shipped quantities allocated to FulfillmentOrder lines, and stable external ids so retries update.

use rust_decimal::Decimal;
use tracing::warn;
use waybill::domain::{LineKind, Order, OrderLine, SalesforceId, Shipment, ShippedLine, ValidationError};
use waybill::mapping::{MappingError, MappingTables};
use waybill::ports::{ShipmentItemRecord, ShipmentRecord, WmsSystem};

/// Builds the Salesforce records for one WMS shipment of one FulfillmentOrder.
///
/// One Shipment per package, keyed by the package's own identity in the WMS
/// (`<system>:<order code>:pkg:<tracking number>`), so a re-read, a redelivered event or the second ship
/// of a split order updates the same records and never adds a copy. When the WMS says what is in each
/// package, each Shipment carries its package's lines. When it does not, the shipment's lines go on its
/// first package (the WMS lists packages in the order they shipped, and that list only grows), so the
/// quantities are updated in place as more ships, never counted twice. Shipped lines without any package
/// (no tracking yet) go on one `<system>:<order code>:untracked` Shipment.
///
/// # Errors
/// `MappingError` when a shipped SKU or unit has no mapping back to Salesforce, or a shipped SKU is not
/// on the order.
pub fn shipment_records(
    system: WmsSystem,
    fo_id: &SalesforceId,
    order: &Order,
    shipment: &Shipment,
    tables: &MappingTables,
) -> Result<Vec<ShipmentRecord>, MappingError> {
    let order_key = format!("{}:{}", system.as_str(), shipment.order_code);
    let per_package = !shipment.packages.is_empty() && shipment.packages.iter().all(|p| !p.lines.is_empty());
    let groups: Vec<(String, Option<&waybill::domain::Package>, &[ShippedLine])> = if shipment.packages.is_empty() {
        vec![(format!("{order_key}:untracked"), None, shipment.lines.as_slice())]
    } else {
        shipment
            .packages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let lines: &[ShippedLine] = if per_package {
                    p.lines.as_slice()
                } else if i == 0 {
                    shipment.lines.as_slice()
                } else {
                    &[]
                };
                (format!("{order_key}:pkg:{}", p.tracking_number), Some(p), lines)
            })
            .collect()
    };

    let external = |name: &str| {
        order
            .source
            .external_ids
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| SalesforceId::parse(v).ok())
    };
    groups
        .into_iter()
        .map(|(key, package, lines)| {
            let items = allocate(order, lines, tables)?
                .into_iter()
                .map(|(line, quantity)| ShipmentItemRecord {
                    external_key: format!("{key}:{}", line.line_id),
                    line_id: line.line_id.clone(),
                    product_id: line.product_id.clone(),
                    order_item_summary_id: line.order_item_summary_id.clone(),
                    quantity,
                })
                .collect();
            Ok(ShipmentRecord {
                external_key: key,
                fulfillment_order_id: fo_id.clone(),
                order_summary_id: external("OrderSummaryId"),
                delivery_method_id: external("DeliveryMethodId"),
                provider: shipment.carrier.as_ref().map(|c| c.to_string()),
                tracking_number: package.map(|p| p.tracking_number.to_string()),
                tracking_url: package.and_then(|p| p.tracking_url.clone()),
                ship_to: order.ship_to.clone(),
                shipped_at: shipment.shipped_at,
                items,
            })
        })
        .collect()
}

/// Allocates shipped quantities (WMS SKU and unit) to the order's product lines, in line order, never
/// beyond a line's quantity except on the last matching line (the WMS is the fulfilment truth; an
/// over-shipment is logged, not dropped).
fn allocate<'a>(
    order: &'a Order,
    shipped: &[ShippedLine],
    tables: &MappingTables,
) -> Result<Vec<(&'a OrderLine, Decimal)>, MappingError> {
    let mut out: Vec<(&OrderLine, Decimal)> = Vec::new();
    for s in shipped {
        let sf_sku = tables.source_sku(&s.sku)?;
        let candidates: Vec<&OrderLine> = order
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Product && l.sku == sf_sku)
            .collect();
        if candidates.is_empty() {
            return Err(MappingError::Invalid(ValidationError::new(
                "sku",
                format!("shipped SKU {} ({}) is not on the order", s.sku, sf_sku),
            )));
        }
        // Remaining quantity to place, in WMS units.
        let mut remaining = s.quantity.value();
        for (i, line) in candidates.iter().enumerate() {
            if remaining <= Decimal::ZERO {
                break;
            }
            let factor = unit_factor(tables, line, s)?;
            let already: Decimal = out
                .iter()
                .filter(|(l, _)| l.line_id == line.line_id)
                .map(|(_, q)| *q * factor)
                .sum();
            let capacity = (line.quantity.value() * factor - already).max(Decimal::ZERO);
            let last = i + 1 == candidates.len();
            let take = if last { remaining } else { remaining.min(capacity) };
            if last && take > capacity {
                warn!(line_id = %line.line_id, sku = %sf_sku, "shipped more than ordered on this line");
            }
            if take > Decimal::ZERO {
                let sf_qty = (take / factor).round_dp(4);
                match out.iter_mut().find(|(l, _)| l.line_id == line.line_id) {
                    Some((_, q)) => *q += sf_qty,
                    None => out.push((line, sf_qty)),
                }
                remaining -= take;
            }
        }
    }
    Ok(out)
}

/// How many WMS units one unit of this line is, given the unit the WMS shipped in.
fn unit_factor(tables: &MappingTables, line: &OrderLine, shipped: &ShippedLine) -> Result<Decimal, MappingError> {
    match tables.unit.entries.get(line.quantity.unit().as_str()) {
        Some(t) if t.value == shipped.quantity.unit().as_str() => Ok(t.factor.unwrap_or(Decimal::ONE)),
        Some(_) | None if line.quantity.unit() == shipped.quantity.unit() => Ok(Decimal::ONE),
        None if tables.unit.passthrough => Ok(Decimal::ONE),
        _ => Err(MappingError::Missing {
            table: "unit",
            value: format!("{} -> {}", line.quantity.unit(), shipped.quantity.unit()),
            field: "unit".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill::domain::*;
    use waybill::mapping::Target;

    fn id(s: &str) -> SalesforceId {
        SalesforceId::parse(s).expect("id")
    }

    fn qty(v: i64, unit: &str) -> Quantity {
        Quantity::new(Decimal::from(v), UnitOfMeasure::parse(unit).expect("u")).expect("q")
    }

    fn line(n: u32, sku: &str, q: i64, unit: &str) -> OrderLine {
        waybill::testing::sample_line(n, sku, &q.to_string(), unit)
    }

    fn order(lines: Vec<OrderLine>) -> Order {
        waybill::testing::sample_order(lines)
    }

    fn shipped(sku: &str, q: i64, unit: &str) -> ShippedLine {
        ShippedLine {
            sku: Sku::parse(sku).expect("sku"),
            quantity: qty(q, unit),
        }
    }

    fn shipment(packages: Vec<Package>, lines: Vec<ShippedLine>) -> Shipment {
        Shipment {
            wms_order_id: WmsOrderId::parse("g-1").expect("id"),
            order_code: "FO-0000001".into(),
            shipment_key: "s1".into(),
            carrier: Some(CarrierCode::parse("UPS").expect("c")),
            service: None,
            shipped_at: None,
            packages,
            lines,
            order_complete: true,
        }
    }

    fn package(t: &str, lines: Vec<ShippedLine>) -> Package {
        Package {
            tracking_number: TrackingNumber::parse(t).expect("t"),
            tracking_url: None,
            lines,
        }
    }

    fn tables() -> MappingTables {
        let mut t = MappingTables::default();
        t.sku.entries.insert(
            "SF-A".into(),
            Target {
                value: "W-A".into(),
                factor: None,
                service: None,
            },
        );
        t.unit.entries.insert(
            "Each".into(),
            Target {
                value: "Unit".into(),
                factor: None,
                service: None,
            },
        );
        t.unit.entries.insert(
            "Case".into(),
            Target {
                value: "Unit".into(),
                factor: Some(Decimal::from(12)),
                service: None,
            },
        );
        t
    }

    #[test]
    fn parcels_with_contents_become_one_shipment_each_with_stable_external_ids() {
        let o = order(vec![line(1, "SF-A", 3, "Each")]);
        let s = shipment(
            vec![
                package("1Z1", vec![shipped("W-A", 2, "Unit")]),
                package("1Z2", vec![shipped("W-A", 1, "Unit")]),
            ],
            vec![shipped("W-A", 3, "Unit")],
        );
        let recs =
            shipment_records(WmsSystem::named("logiwa"), &id("0a3000000000001"), &o, &s, &tables()).expect("records");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].external_key, "logiwa:FO-0000001:pkg:1Z1");
        assert_eq!(recs[0].tracking_number.as_deref(), Some("1Z1"));
        assert_eq!(recs[0].items[0].quantity, Decimal::from(2));
        assert_eq!(recs[1].items[0].quantity, Decimal::from(1));
        assert_eq!(recs[0].order_summary_id, Some(id("1Os000000000001")));
    }

    #[test]
    fn parcels_without_contents_are_one_shipment_each_with_the_lines_on_the_first() {
        let o = order(vec![line(1, "SF-A", 3, "Each")]);
        let s = shipment(
            vec![package("1Z1", vec![]), package("1Z2", vec![])],
            vec![shipped("W-A", 3, "Unit")],
        );
        let recs =
            shipment_records(WmsSystem::named("logiwa"), &id("0a3000000000001"), &o, &s, &tables()).expect("records");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].tracking_number.as_deref(), Some("1Z1"));
        assert_eq!(recs[0].items.len(), 1);
        assert_eq!(recs[0].items[0].quantity, Decimal::from(3));
        assert!(recs[1].items.is_empty());
    }

    #[test]
    fn the_second_ship_of_a_split_order_keeps_the_first_packages_keys_and_adds_only_its_own() {
        let o = order(vec![line(1, "SF-A", 3, "Each")]);
        let first = shipment(
            vec![package("1Z1", vec![shipped("W-A", 1, "Unit")])],
            vec![shipped("W-A", 1, "Unit")],
        );
        let mut second = shipment(
            vec![
                package("1Z1", vec![shipped("W-A", 1, "Unit")]),
                package("1Z2", vec![shipped("W-A", 2, "Unit")]),
            ],
            vec![shipped("W-A", 3, "Unit")],
        );
        second.shipment_key = "another-hash".into();
        let fo = id("0a3000000000001");
        let a = shipment_records(WmsSystem::named("logiwa"), &fo, &o, &first, &tables()).expect("records");
        let b = shipment_records(WmsSystem::named("logiwa"), &fo, &o, &second, &tables()).expect("records");
        assert_eq!(a[0].external_key, b[0].external_key);
        assert_eq!(a[0].items, b[0].items);
        let total: Decimal = b.iter().flat_map(|r| &r.items).map(|i| i.quantity).sum();
        assert_eq!(total, Decimal::from(3), "each unit is on exactly one ShipmentItem");
    }

    #[test]
    fn the_same_package_read_with_and_without_contents_keeps_its_shipment_key() {
        let o = order(vec![line(1, "SF-A", 1, "Each")]);
        let with = shipment(
            vec![package("1Z1", vec![shipped("W-A", 1, "Unit")])],
            vec![shipped("W-A", 1, "Unit")],
        );
        let without = shipment(vec![package("1Z1", vec![])], vec![shipped("W-A", 1, "Unit")]);
        let fo = id("0a3000000000001");
        let a = shipment_records(WmsSystem::named("logiwa"), &fo, &o, &with, &tables()).expect("records");
        let b = shipment_records(WmsSystem::named("logiwa"), &fo, &o, &without, &tables()).expect("records");
        assert_eq!(a[0].external_key, b[0].external_key);
        assert_eq!(a[0].items, b[0].items);
    }

    #[test]
    fn eaches_shipped_against_a_case_line_come_back_as_cases() {
        let o = order(vec![line(1, "SF-A", 2, "Case")]);
        let s = shipment(vec![], vec![shipped("W-A", 24, "Unit")]);
        let recs =
            shipment_records(WmsSystem::named("logiwa"), &id("0a3000000000001"), &o, &s, &tables()).expect("records");
        assert_eq!(recs[0].items[0].quantity, Decimal::from(2));
    }

    #[test]
    fn a_quantity_split_over_two_lines_of_one_sku_fills_them_in_order() {
        let o = order(vec![line(1, "SF-A", 2, "Each"), line(2, "SF-A", 5, "Each")]);
        let s = shipment(vec![], vec![shipped("W-A", 4, "Unit")]);
        let recs =
            shipment_records(WmsSystem::named("logiwa"), &id("0a3000000000001"), &o, &s, &tables()).expect("records");
        let q: Vec<Decimal> = recs[0].items.iter().map(|i| i.quantity).collect();
        assert_eq!(q, vec![Decimal::from(2), Decimal::from(2)]);
    }

    #[test]
    fn a_shipped_sku_that_is_not_on_the_order_is_an_error_naming_it() {
        let o = order(vec![line(1, "SF-A", 1, "Each")]);
        let mut t = tables();
        t.sku.passthrough = true;
        let s = shipment(vec![], vec![shipped("W-OTHER", 1, "Unit")]);
        let err =
            shipment_records(WmsSystem::named("logiwa"), &id("0a3000000000001"), &o, &s, &t).expect_err("not on order");
        assert!(err.to_string().contains("W-OTHER"), "{err}");
    }
}
