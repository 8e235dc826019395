//! In-memory sObject records with Salesforce's write validation: unknown and read-only fields,
//! required fields, value types, references, restricted picklists, unique external ids.

use super::error::ApiError;
use super::ids;
use super::schema::{fo_status_category, schema, FieldDef, FieldType, ObjectDef};
use crate::common::timefmt::{format_date, parse_date, parse_datetime, sf_datetime};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// One stored record: canonical field name -> value; every schema field is present (null when unset).
pub type Record = Map<String, Value>;

/// Whether a write comes from the API (full validation) or from an admin seed (lenient: may set
/// read-only fields and the Id, skips required-field and reference-existence checks so fixtures
/// load in any order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Api,
    Seed,
}

/// One value a record's field took, in write order: what field history tracking (and the chaos run's
/// "no status ever moved backwards" check) reads. Kept for every field a write changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldChange {
    pub sobject: String,
    pub id: String,
    pub field: String,
    pub old: Value,
    pub new: Value,
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct Store {
    tables: BTreeMap<String, BTreeMap<String, Record>>,
    next_seq: u64,
    autonumbers: HashMap<String, u64>,
    history: Vec<FieldChange>,
    /// Each record's value before a write, while a transaction is open (`begin`), so a rollback
    /// restores it. Copying the whole store per request instead made every write cost the org's size.
    journal: Vec<Undo>,
    /// Transactions open (a composite request may nest a collection call).
    open: usize,
}

#[derive(Debug, Clone)]
struct Undo {
    sobject: String,
    id: String,
    before: Option<Record>,
}

/// Where a transaction began: `rollback` puts the store back exactly as it was here (records, ids and
/// autonumbers handed out, field history), `commit` keeps what was written since.
#[derive(Debug)]
#[must_use = "a transaction is ended by commit or rollback"]
pub struct Savepoint {
    journal_len: usize,
    history_len: usize,
    next_seq: u64,
    autonumbers: HashMap<String, u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            tables: BTreeMap::new(),
            // Start well above zero so generated ids look like a lived-in org's.
            next_seq: 3_000_000,
            autonumbers: HashMap::new(),
            history: Vec::new(),
            journal: Vec::new(),
            open: 0,
        }
    }
}

impl Store {
    /// Opens a transaction (an all-or-none request).
    pub fn begin(&mut self) -> Savepoint {
        self.open += 1;
        Savepoint {
            journal_len: self.journal.len(),
            history_len: self.history.len(),
            next_seq: self.next_seq,
            autonumbers: self.autonumbers.clone(),
        }
    }

    /// Keeps every write since `sp`.
    pub fn commit(&mut self, sp: Savepoint) {
        drop(sp);
        self.close();
    }

    /// Undoes every write since `sp`, newest first.
    pub fn rollback(&mut self, sp: Savepoint) {
        while self.journal.len() > sp.journal_len {
            let Some(undo) = self.journal.pop() else { break };
            let table = self.tables.entry(undo.sobject).or_default();
            match undo.before {
                Some(rec) => {
                    table.insert(undo.id, rec);
                }
                None => {
                    table.remove(&undo.id);
                }
            }
        }
        self.history.truncate(sp.history_len);
        self.next_seq = sp.next_seq;
        self.autonumbers = sp.autonumbers;
        self.close();
    }

    fn close(&mut self) {
        self.open = self.open.saturating_sub(1);
        if self.open == 0 {
            self.journal.clear();
        }
    }

    /// Stores `rec` (None removes the record), journalling what it replaces while a transaction is open.
    fn put(&mut self, sobject: &str, id: String, rec: Option<Record>) {
        let table = self.tables.entry(sobject.to_string()).or_default();
        let before = match rec {
            Some(r) => table.insert(id.clone(), r),
            None => table.remove(&id),
        };
        if self.open > 0 {
            self.journal.push(Undo {
                sobject: sobject.to_string(),
                id,
                before,
            });
        }
    }

    pub fn get(&self, sobject: &str, id: &str) -> Option<&Record> {
        let id18 = ids::to18(id)?;
        self.tables.get(sobject)?.get(&id18)
    }

    /// Records of one type in id (= creation) order.
    pub fn all(&self, sobject: &str) -> Vec<&Record> {
        self.tables
            .get(sobject)
            .map(|t| t.values().collect())
            .unwrap_or_default()
    }

    /// Finds any record by id, whatever its type (the key prefix tells the type).
    pub fn get_any(&self, id: &str) -> Option<(&'static ObjectDef, &Record)> {
        let id18 = ids::to18(id)?;
        let obj = schema().object_by_prefix(&id18[..3])?;
        self.tables.get(obj.name)?.get(&id18).map(|r| (obj, r))
    }

    /// Ids of records whose `field` equals `value` (case-insensitive, like a default external id).
    pub fn find_by(&self, obj: &ObjectDef, field: &FieldDef, value: &str) -> Vec<String> {
        self.all(obj.name)
            .into_iter()
            .filter(|r| {
                r.get(field.name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    pub fn create(
        &mut self,
        obj: &'static ObjectDef,
        input: &Map<String, Value>,
        mode: WriteMode,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        let values = self.coerce_input(obj, input, mode, true)?;
        let mut rec = Record::new();
        for field in &obj.fields {
            let default = match field.ty {
                // Salesforce checkboxes are never null.
                FieldType::Boolean => Value::Bool(false),
                _ => Value::Null,
            };
            rec.insert(field.name.to_string(), default);
        }
        for (k, v) in values {
            rec.insert(k, v);
        }
        if mode == WriteMode::Api {
            check_required(obj, &rec)?;
        }
        let id = match rec.get("Id").and_then(Value::as_str) {
            Some(given) => {
                let id18 = ids::to18(given)
                    .filter(|i| i.starts_with(obj.key_prefix))
                    .ok_or_else(|| {
                        ApiError::bad(
                            "MALFORMED_ID",
                            format!("{} ID: id value of incorrect type: {given}", obj.name),
                        )
                    })?;
                if self.get(obj.name, &id18).is_some() {
                    return Err(ApiError::bad(
                        "DUPLICATE_VALUE",
                        format!("duplicate value found: Id duplicates value on record with id: {id18}"),
                    ));
                }
                id18
            }
            None => {
                self.next_seq += 1;
                ids::make_id(obj.key_prefix, self.next_seq)
            }
        };
        rec.insert("Id".into(), Value::String(id.clone()));
        for field in &obj.fields {
            if let FieldType::AutoNumber(prefix, width) = field.ty {
                if rec.get(field.name).is_none_or(Value::is_null) {
                    let n = self
                        .autonumbers
                        .entry(format!("{}.{}", obj.name, field.name))
                        .or_insert(0);
                    *n += 1;
                    rec.insert(field.name.to_string(), Value::String(format!("{prefix}{:0width$}", *n)));
                }
            }
        }
        let stamp = Value::String(sf_datetime(now));
        for sys in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            if rec.get(sys).is_none_or(Value::is_null) {
                rec.insert(sys.to_string(), stamp.clone());
            }
        }
        // Custom objects default Name to the record id when it is not given.
        if obj.name.ends_with("__c") && rec.get("Name").is_some_and(Value::is_null) {
            rec.insert("Name".into(), Value::String(id.clone()));
        }
        derive(obj, &mut rec);
        self.check_unique(obj, &rec, &id)?;
        self.put(obj.name, id.clone(), Some(rec));
        Ok(id)
    }

    pub fn update(
        &mut self,
        obj: &'static ObjectDef,
        id: &str,
        input: &Map<String, Value>,
        mode: WriteMode,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let id18 = ids::to18(id).ok_or_else(ApiError::not_found)?;
        if self.get(obj.name, &id18).is_none() {
            return Err(ApiError::not_found());
        }
        let values = self.coerce_input(obj, input, mode, false)?;
        let mut rec = self.get(obj.name, &id18).cloned().ok_or_else(ApiError::not_found)?;
        let mut changes = Vec::new();
        for (k, v) in values {
            let old = rec.get(&k).cloned().unwrap_or(Value::Null);
            if old != v {
                changes.push(FieldChange {
                    sobject: obj.name.to_string(),
                    id: id18.clone(),
                    field: k.clone(),
                    old,
                    new: v.clone(),
                    at: sf_datetime(now),
                });
            }
            rec.insert(k, v);
        }
        if mode == WriteMode::Api {
            check_required(obj, &rec)?;
        }
        let stamp = Value::String(sf_datetime(now));
        rec.insert("LastModifiedDate".into(), stamp.clone());
        rec.insert("SystemModstamp".into(), stamp);
        derive(obj, &mut rec);
        self.check_unique(obj, &rec, &id18)?;
        self.put(obj.name, id18, Some(rec));
        self.history.extend(changes);
        Ok(())
    }

    /// Every change of one field of one record, oldest first.
    pub fn field_history(&self, sobject: &str, id: &str, field: &str) -> Vec<FieldChange> {
        let id18 = ids::to18(id).unwrap_or_default();
        self.history
            .iter()
            .filter(|c| c.sobject == sobject && c.id == id18 && c.field.eq_ignore_ascii_case(field))
            .cloned()
            .collect()
    }

    /// Deletes a record and, like a master-detail relationship, the children that require it.
    pub fn delete(&mut self, obj: &ObjectDef, id: &str) -> Result<(), ApiError> {
        let id18 = ids::to18(id).ok_or_else(ApiError::not_found)?;
        if self.get(obj.name, &id18).is_none() {
            return Err(ApiError::not_found());
        }
        self.put(obj.name, id18.clone(), None);
        for child_obj in &schema().objects {
            for field in child_obj.fields.iter().filter(|f| f.cascade_delete) {
                if field.ty != FieldType::Reference(obj.name) {
                    continue;
                }
                let doomed: Vec<String> = self
                    .all(child_obj.name)
                    .into_iter()
                    .filter(|r| r.get(field.name).and_then(Value::as_str) == Some(id18.as_str()))
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
                    .collect();
                for child_id in doomed {
                    let _ = self.delete(child_obj, &child_id);
                }
            }
        }
        Ok(())
    }

    /// Validates and converts every input field; the first problem wins, as in Salesforce.
    fn coerce_input(
        &self,
        obj: &ObjectDef,
        input: &Map<String, Value>,
        mode: WriteMode,
        creating: bool,
    ) -> Result<Vec<(String, Value)>, ApiError> {
        let mut out = Vec::new();
        for (key, raw) in input {
            if key == "attributes" {
                continue;
            }
            let field = obj.field(key).ok_or_else(|| ApiError::invalid_field(key, obj.name))?;
            let writable = if creating { field.createable } else { field.updateable };
            if mode == WriteMode::Api && !writable {
                return Err(ApiError::bad(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                )
                .with_fields(vec![field.name.to_string()]));
            }
            let value = self.coerce(field, raw, mode)?;
            out.push((field.name.to_string(), value));
        }
        Ok(out)
    }

    fn coerce(&self, field: &FieldDef, raw: &Value, mode: WriteMode) -> Result<Value, ApiError> {
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let kind = |v: &Value| match v {
            Value::String(_) => "VALUE_STRING",
            Value::Number(_) => "VALUE_NUMBER",
            Value::Bool(_) => "VALUE_TRUE",
            Value::Array(_) => "START_ARRAY",
            Value::Object(_) => "START_OBJECT",
            Value::Null => "VALUE_NULL",
        };
        let parse_err = |ty: &str| {
            ApiError::json_parser(format!(
                "Cannot deserialize instance of {ty} from {} value {} or request may be missing a required field",
                kind(raw),
                scalar_text(raw)
            ))
        };
        match field.ty {
            FieldType::Id
            | FieldType::Text
            | FieldType::Picklist
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Url => match raw {
                Value::String(s) => Ok(Value::String(s.clone())),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                Value::Bool(b) => Ok(Value::String(b.to_string())),
                _ => Err(parse_err("string")),
            },
            FieldType::AutoNumber(..) => match raw {
                Value::String(s) => Ok(Value::String(s.clone())),
                _ => Err(parse_err("string")),
            },
            FieldType::RestrictedPicklist(values) => {
                let s = raw.as_str().ok_or_else(|| parse_err("string"))?;
                if values.contains(&s) {
                    Ok(Value::String(s.to_string()))
                } else {
                    Err(ApiError::bad(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {s}", field.name),
                    )
                    .with_fields(vec![field.name.to_string()]))
                }
            }
            FieldType::Double | FieldType::Currency => {
                let n = match raw {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                n.and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                    .ok_or_else(|| parse_err("double"))
            }
            FieldType::Boolean => match raw {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                _ => Err(parse_err("boolean")),
            },
            FieldType::DateTime => raw
                .as_str()
                .and_then(parse_datetime)
                .map(|t| Value::String(sf_datetime(t)))
                .ok_or_else(|| parse_err("datetime")),
            FieldType::Date => raw
                .as_str()
                .and_then(|s| parse_date(s).or_else(|| parse_datetime(s).map(|t| t.date())))
                .map(|d| Value::String(format_date(d)))
                .ok_or_else(|| parse_err("date")),
            FieldType::Reference(target) => {
                let s = raw.as_str().ok_or_else(|| parse_err("string"))?;
                let target_def = schema().object(target);
                let prefix = target_def.map(|o| o.key_prefix).unwrap_or("???");
                let id18 = ids::to18(s).filter(|i| i.starts_with(prefix)).ok_or_else(|| {
                    ApiError::bad(
                        "MALFORMED_ID",
                        format!("{}: id value of incorrect type: {s}", field.name),
                    )
                    .with_fields(vec![field.name.to_string()])
                })?;
                if mode == WriteMode::Api && self.get(target, &id18).is_none() {
                    return Err(
                        ApiError::bad("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                            .with_fields(vec![field.name.to_string()]),
                    );
                }
                Ok(Value::String(id18))
            }
        }
    }

    fn check_unique(&self, obj: &ObjectDef, rec: &Record, own_id: &str) -> Result<(), ApiError> {
        for field in obj.fields.iter().filter(|f| f.unique) {
            let Some(v) = rec.get(field.name).and_then(Value::as_str) else {
                continue;
            };
            if let Some(other) = self.find_by(obj, field, v).into_iter().find(|i| i != own_id) {
                return Err(ApiError::bad(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {} duplicates value on record with id: {other}",
                        field.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(_) => "[".into(),
        Value::Object(_) => "{".into(),
        other => other.to_string(),
    }
}

fn check_required(obj: &ObjectDef, rec: &Record) -> Result<(), ApiError> {
    let missing: Vec<String> = obj
        .fields
        .iter()
        .filter(|f| f.required)
        .filter(|f| match rec.get(f.name) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        })
        .map(|f| f.name.to_string())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
        )
        .with_fields(missing))
    }
}

/// Fields Salesforce computes itself.
fn derive(obj: &ObjectDef, rec: &mut Record) {
    if obj.name == "FulfillmentOrder" {
        let category = rec
            .get("Status")
            .and_then(Value::as_str)
            .and_then(fo_status_category)
            .map(|c| Value::String(c.to_string()))
            .unwrap_or(Value::Null);
        rec.insert("StatusCategory".into(), category);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str) -> &'static ObjectDef {
        schema().object(name).expect("known object")
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn creating_without_a_required_field_names_every_missing_field() {
        // Given an empty store
        let mut store = Store::default();
        // When a ShipmentItem is created with neither ShipmentId nor Quantity
        let err = store
            .create(
                obj("ShipmentItem"),
                &map(json!({"Description":"x"})),
                WriteMode::Api,
                OffsetDateTime::now_utc(),
            )
            .expect_err("must fail");
        // Then the error is REQUIRED_FIELD_MISSING with both fields
        assert_eq!(err.code, "REQUIRED_FIELD_MISSING");
        assert_eq!(err.fields, vec!["ShipmentId".to_string(), "Quantity".to_string()]);
    }

    #[test]
    fn read_only_fields_and_unknown_fields_are_rejected_on_api_writes() {
        let mut store = Store::default();
        let now = OffsetDateTime::now_utc();
        let ro = store
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"Status":"Allocated","FulfilledToName":"A","ItemCount":3})),
                WriteMode::Api,
                now,
            )
            .expect_err("read-only");
        assert_eq!(ro.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
        let unknown = store
            .create(
                obj("Account"),
                &map(json!({"Name":"A","Bogus__c":1})),
                WriteMode::Api,
                now,
            )
            .expect_err("unknown");
        assert_eq!(unknown.code, "INVALID_FIELD");
        assert_eq!(unknown.message, "No such column 'Bogus__c' on sobject of type Account");
    }

    #[test]
    fn autonumbers_system_dates_and_status_category_are_filled_in() {
        let mut store = Store::default();
        let now = OffsetDateTime::now_utc();
        let id = store
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"status":"Fulfilled","FulfilledToName":"A"})),
                WriteMode::Api,
                now,
            )
            .expect("created");
        let rec = store.get("FulfillmentOrder", &id).expect("stored");
        assert_eq!(rec["FulfillmentOrderNumber"], json!("FO-0000001"));
        assert_eq!(rec["StatusCategory"], json!("CLOSED"));
        assert_eq!(rec["CreatedDate"], json!(sf_datetime(now)));
        assert_eq!(rec["Status"], json!("Fulfilled"));
    }

    #[test]
    fn a_unique_external_id_rejects_a_duplicate_insert() {
        let mut store = Store::default();
        let now = OffsetDateTime::now_utc();
        let ip = obj("Inventory_Position__c");
        store
            .create(ip, &map(json!({"Waybill_Position_Key__c":"K1"})), WriteMode::Api, now)
            .expect("first insert");
        let err = store
            .create(ip, &map(json!({"Waybill_Position_Key__c":"k1"})), WriteMode::Api, now)
            .expect_err("duplicate");
        assert_eq!(err.code, "DUPLICATE_VALUE");
    }

    #[test]
    fn references_must_be_well_formed_ids_of_existing_records() {
        let mut store = Store::default();
        let now = OffsetDateTime::now_utc();
        let si = obj("ShipmentItem");
        let malformed = store
            .create(si, &map(json!({"ShipmentId":"nope","Quantity":1})), WriteMode::Api, now)
            .expect_err("malformed");
        assert_eq!(malformed.code, "MALFORMED_ID");
        let missing = store
            .create(
                si,
                &map(json!({"ShipmentId": ids::make_id("0OB", 5), "Quantity":1})),
                WriteMode::Api,
                now,
            )
            .expect_err("missing parent");
        assert_eq!(missing.code, "INVALID_CROSS_REFERENCE_KEY");
    }

    #[test]
    fn a_rolled_back_transaction_leaves_records_ids_autonumbers_and_history_as_they_were() {
        let mut s = Store::default();
        let now = OffsetDateTime::now_utc();
        let fo = s
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"Status": "Allocated", "FulfilledToName": "Ann"})),
                WriteMode::Api,
                now,
            )
            .expect("created");
        let before = serde_json::to_value(s.all("FulfillmentOrder")).expect("json");
        let sp = s.begin();
        s.update(
            obj("FulfillmentOrder"),
            &fo,
            &map(json!({"Status": "Fulfilled"})),
            WriteMode::Api,
            now,
        )
        .expect("updated");
        let second = s
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"Status": "Draft", "FulfilledToName": "Bob"})),
                WriteMode::Api,
                now,
            )
            .expect("created");
        let number = |s: &Store, id: &str| {
            s.get("FulfillmentOrder", id)
                .map(|r| r["FulfillmentOrderNumber"].clone())
        };
        let second_number = number(&s, &second);
        s.delete(obj("FulfillmentOrder"), &fo).expect("deleted");
        s.rollback(sp);
        assert_eq!(serde_json::to_value(s.all("FulfillmentOrder")).expect("json"), before);
        assert!(s.field_history("FulfillmentOrder", &fo, "Status").is_empty());
        // The id and autonumber handed out inside the transaction are handed out again.
        let again = s
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"Status": "Draft", "FulfilledToName": "Bob"})),
                WriteMode::Api,
                now,
            )
            .expect("created");
        assert_eq!(again, second);
        assert_eq!(number(&s, &again), second_number);
    }

    #[test]
    fn a_committed_transaction_keeps_its_writes_and_a_nested_rollback_undoes_only_its_own() {
        let mut s = Store::default();
        let now = OffsetDateTime::now_utc();
        let outer = s.begin();
        let kept = s
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"Status": "Allocated", "FulfilledToName": "Ann"})),
                WriteMode::Api,
                now,
            )
            .expect("created");
        let inner = s.begin();
        let undone = s
            .create(
                obj("FulfillmentOrder"),
                &map(json!({"Status": "Draft", "FulfilledToName": "Bob"})),
                WriteMode::Api,
                now,
            )
            .expect("created");
        s.rollback(inner);
        s.commit(outer);
        assert!(s.get("FulfillmentOrder", &kept).is_some());
        assert!(s.get("FulfillmentOrder", &undone).is_none());
        assert!(
            s.journal.is_empty(),
            "nothing is journalled once every transaction has ended"
        );
    }

    #[test]
    fn deleting_a_shipment_deletes_its_items() {
        let mut store = Store::default();
        let now = OffsetDateTime::now_utc();
        let sh = store
            .create(obj("Shipment"), &map(json!({"ShipToName":"A"})), WriteMode::Api, now)
            .expect("shipment");
        store
            .create(
                obj("ShipmentItem"),
                &map(json!({"ShipmentId": sh, "Quantity": 2})),
                WriteMode::Api,
                now,
            )
            .expect("item");
        store.delete(obj("Shipment"), &sh).expect("deleted");
        assert!(store.all("ShipmentItem").is_empty());
    }
}
