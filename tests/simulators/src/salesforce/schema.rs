//! The small sObject schema the simulator enforces: fields, types, required and external-id flags,
//! reference fields with relationship names, and child relationships (salesforce-api.md §5).

use std::sync::OnceLock;

/// Field data types, roughly as `describe` reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    Id,
    Text,
    Picklist,
    /// Picklist that rejects values outside the list (`INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`).
    RestrictedPicklist(&'static [&'static str]),
    /// Lookup to another sObject type.
    Reference(&'static str),
    Double,
    Currency,
    Boolean,
    DateTime,
    Date,
    Email,
    Phone,
    Url,
    /// Auto-number with a display prefix and zero-padded width, e.g. `FO-0000001`.
    AutoNumber(&'static str, usize),
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    pub external_id: bool,
    pub unique: bool,
    pub createable: bool,
    pub updateable: bool,
    /// Relationship name for reference fields (`DeliveryMethodId` -> `DeliveryMethod`).
    pub relationship: Option<&'static str>,
    /// Deleting the parent deletes this record too (master-detail).
    pub cascade_delete: bool,
}

#[derive(Debug, Clone)]
pub struct ChildRelationship {
    pub name: &'static str,
    pub child_type: &'static str,
    pub field: &'static str,
}

#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: &'static str,
    pub key_prefix: &'static str,
    pub fields: Vec<FieldDef>,
    pub children: Vec<ChildRelationship>,
}

impl ObjectDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The reference field whose relationship name is `rel`.
    pub fn relationship(&self, rel: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.relationship.is_some_and(|r| r.eq_ignore_ascii_case(rel)))
    }

    pub fn child(&self, rel: &str) -> Option<&ChildRelationship> {
        self.children.iter().find(|c| c.name.eq_ignore_ascii_case(rel))
    }
}

#[derive(Debug)]
pub struct Schema {
    pub objects: Vec<ObjectDef>,
}

impl Schema {
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.name.eq_ignore_ascii_case(name))
    }

    pub fn object_by_prefix(&self, prefix: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.key_prefix == prefix)
    }
}

/// Builder for one field; defaults: optional, create- and updateable.
fn f(name: &'static str, ty: FieldType) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: false,
        external_id: false,
        unique: false,
        createable: true,
        updateable: true,
        relationship: None,
        cascade_delete: false,
    }
}

impl FieldDef {
    fn req(mut self) -> Self {
        self.required = true;
        self
    }
    fn ext(mut self) -> Self {
        self.external_id = true;
        self
    }
    fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }
    fn create_only(mut self) -> Self {
        self.updateable = false;
        self
    }
    fn rel(mut self, name: &'static str) -> Self {
        self.relationship = Some(name);
        self
    }
    fn master(mut self) -> Self {
        self.cascade_delete = true;
        self
    }
}

/// Fields every sObject has.
fn system_fields() -> Vec<FieldDef> {
    vec![
        f("Id", FieldType::Id).read_only(),
        f("CreatedDate", FieldType::DateTime).read_only(),
        f("LastModifiedDate", FieldType::DateTime).read_only(),
        f("SystemModstamp", FieldType::DateTime).read_only(),
    ]
}

fn object(
    name: &'static str,
    key_prefix: &'static str,
    fields: Vec<FieldDef>,
    children: Vec<ChildRelationship>,
) -> ObjectDef {
    let mut all = system_fields();
    all.extend(fields);
    ObjectDef {
        name,
        key_prefix,
        fields: all,
        children,
    }
}

fn child(name: &'static str, child_type: &'static str, field: &'static str) -> ChildRelationship {
    ChildRelationship {
        name,
        child_type,
        field,
    }
}

/// salesforce-api.md §5 [82]: FulfillmentOrder status values (customisable in real orgs; these are the defaults).
pub const FO_STATUSES: &[&str] = &[
    "Allocated",
    "Assigned",
    "Cancelled",
    "Draft",
    "Fulfilled",
    "Pick Complete",
    "Pickpack",
    "Printed",
    "Rejected",
];

/// salesforce-api.md §5 [82]: the fixed status category behind each default status.
pub fn fo_status_category(status: &str) -> Option<&'static str> {
    Some(match status {
        "Allocated" => "ACTIVATED",
        "Assigned" | "Pick Complete" | "Pickpack" | "Printed" => "FULFILLING",
        "Cancelled" => "CANCELLED",
        "Draft" => "DRAFT",
        "Fulfilled" => "CLOSED",
        "Rejected" => "REJECTED",
        _ => return None,
    })
}

fn build() -> Schema {
    use FieldType::*;
    let address = |prefix: &'static [&'static str]| prefix.iter().map(|n| f(n, Text)).collect::<Vec<_>>();
    let mut objects = vec![object("Account", "001", vec![f("Name", Text).req()], vec![])];

    // salesforce-api.md §5: Product2 with StockKeepingUnit (idLookup, usable as an external id).
    objects.push(object(
        "Product2",
        "01t",
        vec![
            f("Name", Text).req(),
            f("StockKeepingUnit", Text).ext(),
            f("ProductCode", Text),
            f("QuantityUnitOfMeasure", Picklist),
            f("IsActive", Boolean),
        ],
        vec![],
    ));

    // salesforce-api.md §5 [89]: OrderDeliveryMethod.
    objects.push(object(
        "OrderDeliveryMethod",
        "2Dm",
        vec![
            f("Name", Text).req(),
            f("Carrier", Text),
            f("ClassOfService", Text),
            f("ReferenceNumber", Text),
            f("IsActive", Boolean),
        ],
        vec![],
    ));

    objects.push(object(
        "Location",
        "131",
        vec![
            f("Name", Text).req(),
            f("ExternalReference", Text).ext(),
            f("LocationType", Picklist).req(),
        ],
        vec![],
    ));

    let mut os_fields = vec![
        f("OrderNumber", AutoNumber("", 8)).read_only(),
        f("AccountId", Reference("Account")).rel("Account"),
        f("CurrencyIsoCode", Picklist),
        f("OrderedDate", DateTime),
        f("Status", Picklist),
    ];
    os_fields.extend(address(&[
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
    ]));
    objects.push(object(
        "OrderSummary",
        "1Os",
        os_fields,
        vec![child("FulfillmentOrders", "FulfillmentOrder", "OrderSummaryId")],
    ));

    // salesforce-api.md §5 [82]: FulfillmentOrder.
    let mut fo_fields = vec![
        f("FulfillmentOrderNumber", AutoNumber("FO-", 7)).read_only(),
        f("Status", RestrictedPicklist(FO_STATUSES)).req(),
        f("StatusCategory", Picklist).read_only(),
        f("OrderSummaryId", Reference("OrderSummary")).rel("OrderSummary"),
        f("DeliveryMethodId", Reference("OrderDeliveryMethod")).rel("DeliveryMethod"),
        f("FulfilledFromLocationId", Reference("Location")).rel("FulfilledFromLocation"),
        f("FulfilledToName", Text).req(),
    ];
    fo_fields.extend(address(&[
        "FulfilledToStreet",
        "FulfilledToCity",
        "FulfilledToState",
        "FulfilledToPostalCode",
        "FulfilledToCountry",
    ]));
    fo_fields.extend([
        f("FulfilledToPhone", Phone),
        f("FulfilledToEmailAddress", Email),
        f("ItemCount", Double).read_only(),
        f("Type", Picklist),
        f("TotalProductAmount", Currency),
        f("TotalTaxAmount", Currency),
        f("GrandTotalAmount", Currency).read_only(),
        f("CurrencyIsoCode", Picklist),
        f("AccountId", Reference("Account")).rel("Account"),
    ]);
    objects.push(object(
        "FulfillmentOrder",
        "0a3",
        fo_fields,
        vec![
            child(
                "FulfillmentOrderLineItems",
                "FulfillmentOrderLineItem",
                "FulfillmentOrderId",
            ),
            child("Shipments", "Shipment", "FulfillmentOrderId"),
        ],
    ));

    // salesforce-api.md §5 [83]: FulfillmentOrderLineItem.
    objects.push(object(
        "FulfillmentOrderLineItem",
        "0a4",
        vec![
            f("FulfillmentOrderLineItemNumber", AutoNumber("FOLI-", 7)).read_only(),
            f("FulfillmentOrderId", Reference("FulfillmentOrder"))
                .rel("FulfillmentOrder")
                .req()
                .create_only()
                .master(),
            f("OrderItemSummaryId", Text),
            f("OrderItemId", Text),
            f("Product2Id", Reference("Product2")).rel("Product2"),
            f("Quantity", Double).req(),
            f("OriginalQuantity", Double),
            f("RejectedQuantity", Double),
            f("UnitPrice", Currency),
            f("TotalTaxAmount", Currency),
            f("TotalLineAmount", Currency),
            f("Type", Picklist).req(),
            f("TypeCode", Picklist).req(),
            f("Description", Text),
            f("QuantityUnitOfMeasure", Picklist),
        ],
        vec![],
    ));

    // salesforce-api.md §5 [84]: Shipment, plus our external id.
    let mut sh_fields = vec![
        f("ShipmentNumber", AutoNumber("SH-", 7)).read_only(),
        f("FulfillmentOrderId", Reference("FulfillmentOrder")).rel("FulfillmentOrder"),
        f("OrderSummaryId", Reference("OrderSummary")).rel("OrderSummary"),
        f("DeliveryMethodId", Reference("OrderDeliveryMethod")).rel("DeliveryMethod"),
        f("Provider", Picklist),
        f("TrackingNumber", Text),
        f("TrackingUrl", Url),
        f("ShipToName", Text).req(),
    ];
    sh_fields.extend(address(&[
        "ShipToStreet",
        "ShipToCity",
        "ShipToState",
        "ShipToPostalCode",
        "ShipToCountry",
    ]));
    sh_fields.extend([
        f("Status", Picklist),
        f("ExpectedDeliveryDate", DateTime),
        f("ActualDeliveryDate", DateTime),
        f("TotalItemsQuantity", Double),
        f("Description", Text),
        f("Waybill_External_Id__c", Text).ext(),
    ]);
    objects.push(object(
        "Shipment",
        "0OB",
        sh_fields,
        vec![child("ShipmentItems", "ShipmentItem", "ShipmentId")],
    ));

    // salesforce-api.md §5 [85]: ShipmentItem, plus our external id.
    objects.push(object(
        "ShipmentItem",
        "0OC",
        vec![
            f("ShipmentId", Reference("Shipment"))
                .rel("Shipment")
                .req()
                .create_only()
                .master(),
            f("FulfillmentOrderLineItemId", Reference("FulfillmentOrderLineItem")).rel("FulfillmentOrderLineItem"),
            f("OrderItemSummaryId", Text),
            f("Product2Id", Reference("Product2")).rel("Product2"),
            f("Quantity", Double).req(),
            f("Description", Text),
            f("Waybill_External_Id__c", Text).ext(),
        ],
        vec![],
    ));

    // Our custom object for inventory positions (not a Salesforce standard object).
    objects.push(object(
        "Inventory_Position__c",
        "a0B",
        vec![
            f("Name", Text),
            f("Waybill_Position_Key__c", Text).ext().unique(),
            f("Sku__c", Text),
            f("Location__c", Text),
            f("On_Hand__c", Double),
            f("Available__c", Double),
            f("Unit__c", Text),
            f("As_Of__c", DateTime),
        ],
        vec![],
    ));

    Schema { objects }
}

/// The process-wide schema.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive_and_relationships_resolve_to_their_target() {
        let s = schema();
        let fo = s.object("fulfillmentorder").expect("FulfillmentOrder exists");
        assert_eq!(fo.name, "FulfillmentOrder");
        let dm = fo.relationship("deliverymethod").expect("DeliveryMethod relationship");
        assert_eq!(dm.name, "DeliveryMethodId");
        assert_eq!(dm.ty, FieldType::Reference("OrderDeliveryMethod"));
        let kids = fo.child("FulfillmentOrderLineItems").expect("child relationship");
        assert_eq!(kids.child_type, "FulfillmentOrderLineItem");
    }

    #[test]
    fn key_prefixes_are_unique() {
        let s = schema();
        let mut prefixes: Vec<_> = s.objects.iter().map(|o| o.key_prefix).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        assert_eq!(prefixes.len(), s.objects.len());
    }
}
