//! The Salesforce objects and fields waybill writes, as data. `WriteProfile::order_management()` is
//! Order Management (salesforce-api.md §5: FulfillmentOrder, Shipment [84], ShipmentItem [85]); another
//! Salesforce shape (a Sales Cloud `Order` with a custom shipment object) is another value of the same
//! type, read from `SALESFORCE_WRITE_PROFILE`, not another code path.

use serde::Deserialize;

/// What the write side writes: the order's status, the shipments and their items.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteProfile {
    /// The order record whose status is set.
    pub order: OrderObject,
    /// One record per package.
    pub shipment: ShipmentObject,
    /// One record per shipped line of a package.
    pub item: ItemObject,
}

/// The order object and its status field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderObject {
    /// sObject type (`FulfillmentOrder`).
    pub object: String,
    /// Status field (`Status`).
    pub status_field: String,
}

/// The shipment object. Optional fields are not written when `None`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentObject {
    /// sObject type (`Shipment`).
    pub object: String,
    /// Lookup to the order (`FulfillmentOrderId`).
    pub order_field: String,
    /// Lookup to the order summary (`OrderSummaryId`).
    #[serde(default)]
    pub order_summary_field: Option<String>,
    /// Lookup to the delivery method (`DeliveryMethodId`).
    #[serde(default)]
    pub delivery_method_field: Option<String>,
    /// Carrier (`Provider`).
    #[serde(default)]
    pub provider_field: Option<String>,
    /// Tracking number (`TrackingNumber`).
    #[serde(default)]
    pub tracking_number_field: Option<String>,
    /// Tracking URL (`TrackingUrl`).
    #[serde(default)]
    pub tracking_url_field: Option<String>,
    /// Ship-to address fields (`ShipTo…`).
    #[serde(default)]
    pub ship_to: Option<ShipToFields>,
    /// A field set to a fixed value on every write (`Status` = `Shipped`).
    #[serde(default)]
    pub status: Option<FixedValue>,
    /// Total quantity of the package's items (`TotalItemsQuantity`).
    #[serde(default)]
    pub total_quantity_field: Option<String>,
}

/// Address fields of the shipment object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipToFields {
    /// Name.
    pub name: String,
    /// Street (lines joined by newlines).
    pub street: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Postal code.
    pub postal_code: String,
    /// Country.
    pub country: String,
}

/// A field and the value it is always written with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedValue {
    /// Field.
    pub field: String,
    /// Value.
    pub value: String,
}

/// The shipment item object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemObject {
    /// sObject type (`ShipmentItem`).
    pub object: String,
    /// Lookup to its shipment (`ShipmentId`).
    pub parent_field: String,
    /// The parent lookup is master-detail, settable on create only (SOM's `ShipmentItem.ShipmentId`,
    /// §5 [85]): it is then sent only for items that do not exist yet, which are read first.
    pub parent_create_only: bool,
    /// Lookup to the order line shipped (`FulfillmentOrderLineItemId`).
    pub line_field: String,
    /// Lookup to the product (`Product2Id`).
    #[serde(default)]
    pub product_field: Option<String>,
    /// Lookup to the order item summary (`OrderItemSummaryId`).
    #[serde(default)]
    pub order_item_summary_field: Option<String>,
    /// Quantity (`Quantity`).
    pub quantity_field: String,
}

impl WriteProfile {
    /// Salesforce Order Management (salesforce-api.md §5 [84][85]).
    pub fn order_management() -> Self {
        let s = |v: &str| v.to_owned();
        Self {
            order: OrderObject {
                object: s("FulfillmentOrder"),
                status_field: s("Status"),
            },
            shipment: ShipmentObject {
                object: s("Shipment"),
                order_field: s("FulfillmentOrderId"),
                order_summary_field: Some(s("OrderSummaryId")),
                delivery_method_field: Some(s("DeliveryMethodId")),
                provider_field: Some(s("Provider")),
                tracking_number_field: Some(s("TrackingNumber")),
                tracking_url_field: Some(s("TrackingUrl")),
                ship_to: Some(ShipToFields {
                    name: s("ShipToName"),
                    street: s("ShipToStreet"),
                    city: s("ShipToCity"),
                    state: s("ShipToState"),
                    postal_code: s("ShipToPostalCode"),
                    country: s("ShipToCountry"),
                }),
                status: Some(FixedValue {
                    field: s("Status"),
                    value: s("Shipped"),
                }),
                total_quantity_field: Some(s("TotalItemsQuantity")),
            },
            item: ItemObject {
                object: s("ShipmentItem"),
                parent_field: s("ShipmentId"),
                parent_create_only: true,
                line_field: s("FulfillmentOrderLineItemId"),
                product_field: Some(s("Product2Id")),
                order_item_summary_field: Some(s("OrderItemSummaryId")),
                quantity_field: s("Quantity"),
            },
        }
    }

    /// A named profile (`order-management`) or a profile as JSON (the fields of this type).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "" | "order-management" => Ok(Self::order_management()),
            json if json.starts_with('{') => serde_json::from_str(json).map_err(|e| e.to_string()),
            other => Err(format!(
                "unknown profile '{other}' (known: order-management, or a JSON profile)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WriteProfile;

    #[test]
    fn the_named_profile_is_order_management_and_a_json_profile_reads_its_objects() {
        assert_eq!(
            WriteProfile::parse("order-management").expect("named"),
            WriteProfile::order_management()
        );
        let custom = WriteProfile::parse(
            r#"{"order":{"object":"Order","status_field":"Status"},
                "shipment":{"object":"Parcel__c","order_field":"Order__c","tracking_number_field":"Tracking__c"},
                "item":{"object":"Parcel_Line__c","parent_field":"Parcel__c","parent_create_only":false,
                        "line_field":"Order_Product__c","quantity_field":"Qty__c"}}"#,
        )
        .expect("json");
        assert_eq!(custom.order.object, "Order");
        assert_eq!(custom.shipment.object, "Parcel__c");
        assert_eq!(custom.shipment.ship_to, None);
        assert!(!custom.item.parent_create_only);
    }

    #[test]
    fn an_unknown_name_or_field_is_refused_with_a_reason() {
        assert!(WriteProfile::parse("sales-cloud")
            .expect_err("unknown")
            .contains("sales-cloud"));
        let typo = WriteProfile::parse(
            r#"{"order":{"object":"Order","status":"Status"},"shipment":{"object":"S","order_field":"O"},
                "item":{"object":"I","parent_field":"P","parent_create_only":false,"line_field":"L","quantity_field":"Q"}}"#,
        )
        .expect_err("typo");
        assert!(typo.contains("status"), "{typo}");
    }
}
