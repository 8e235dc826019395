//! The REST data API under `/services/data/vXX.X/`: sObject rows, upsert by external id,
//! sObject Collections, Composite and SOQL query (salesforce-api.md §2).
//!
//! Everything goes through [`dispatch`] so a Composite subrequest runs exactly the code a direct
//! call runs.

use super::error::ApiError;
use super::ids;
use super::schema::{schema, FieldDef, FieldType, ObjectDef};
use super::soql;
use super::store::{Record, Savepoint, Store, WriteMode};
use super::SfData;
use http::Method;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use time::OffsetDateTime;

/// salesforce-api.md §2 [22][23]: collections take at most 200 records.
pub const COLLECTION_LIMIT: usize = 200;
/// salesforce-api.md §2 [27][31]: composite takes at most 25 subrequests, of which 5 queries.
pub const COMPOSITE_LIMIT: usize = 25;
pub const COMPOSITE_QUERY_LIMIT: usize = 5;
/// salesforce-api.md §2 [32]: at most 2000 rows per query batch.
pub const QUERY_BATCH_MAX: usize = 2000;

/// One request to the data API, already split from its HTTP envelope.
#[derive(Debug, Clone)]
pub struct SfRequest {
    pub method: Method,
    /// `v62.0`
    pub version: String,
    /// Percent-decoded path segments after the version.
    pub segments: Vec<String>,
    /// Raw query string (without `?`).
    pub query: String,
    pub body: Vec<u8>,
    pub batch_size: usize,
    pub upsert_update_204: bool,
    pub now: OffsetDateTime,
}

/// A data API answer before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub struct SfResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl SfResponse {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    fn err(e: ApiError) -> Self {
        Self::json(e.status, e.body())
    }
}

impl From<ApiError> for SfResponse {
    fn from(e: ApiError) -> Self {
        Self::err(e)
    }
}

/// Decodes `%XX` escapes in a path segment (no `+` handling: that is a query-string rule).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn method_not_allowed(m: &Method, allowed: &str) -> SfResponse {
    SfResponse::err(ApiError::new(
        405,
        "METHOD_NOT_ALLOWED",
        format!("HTTP Method '{m}' not allowed. Allowed are {allowed}"),
    ))
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::json_parser("No content to map due to end-of-input"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::json_parser(format!("{e}")))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_body(body)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::json_parser(format!(
            "Cannot deserialize instance of sObject from {} value",
            if other.is_array() {
                "START_ARRAY"
            } else {
                "VALUE_STRING"
            }
        ))),
    }
}

fn object_or_404(name: &str) -> Result<&'static ObjectDef, ApiError> {
    schema().object(name).ok_or_else(ApiError::not_found)
}

fn record_url(version: &str, sobject: &str, id: &str) -> String {
    format!("/services/data/{version}/sobjects/{sobject}/{id}")
}

/// A stored record as the REST API returns it: `attributes` plus fields (optionally a subset).
fn record_json(version: &str, obj: &ObjectDef, rec: &Record, fields: Option<&[&'static str]>) -> Value {
    let id = rec.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        json!({"type": obj.name, "url": record_url(version, obj.name, id)}),
    );
    match fields {
        Some(list) => {
            // Salesforce always returns the Id alongside the requested fields.
            m.insert("Id".into(), Value::String(id.to_string()));
            for f in list {
                m.insert((*f).to_string(), rec.get(*f).cloned().unwrap_or(Value::Null));
            }
        }
        None => {
            for f in &obj.fields {
                m.insert(f.name.to_string(), rec.get(f.name).cloned().unwrap_or(Value::Null));
            }
        }
    }
    Value::Object(m)
}

/// Entry point for every data API request.
pub fn dispatch(data: &mut SfData, req: &SfRequest) -> SfResponse {
    let segs: Vec<&str> = req
        .segments
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        [] => match req.method {
            Method::GET => SfResponse::json(
                200,
                json!({
                    "sobjects": format!("/services/data/{}/sobjects", req.version),
                    "query": format!("/services/data/{}/query", req.version),
                    "composite": format!("/services/data/{}/composite", req.version),
                }),
            ),
            _ => method_not_allowed(&req.method, "GET,HEAD"),
        },
        ["sobjects"] => match req.method {
            Method::GET => {
                let list: Vec<Value> = schema()
                    .objects
                    .iter()
                    .map(|o| {
                        json!({"name": o.name, "keyPrefix": o.key_prefix, "custom": o.name.ends_with("__c"),
                        "urls": {"sobject": format!("/services/data/{}/sobjects/{}", req.version, o.name)}})
                    })
                    .collect();
                SfResponse::json(200, json!({"encoding":"UTF-8","maxBatchSize":200,"sobjects":list}))
            }
            _ => method_not_allowed(&req.method, "GET,HEAD"),
        },
        ["sobjects", ty] => sobject_root(data, req, ty),
        ["sobjects", ty, "describe"] => describe(req, ty),
        ["sobjects", ty, id] => sobject_row(data, req, ty, id),
        ["sobjects", ty, field, value] => sobject_by_external_id(data, req, ty, field, value),
        ["composite"] => match req.method {
            Method::POST => composite(data, req),
            _ => method_not_allowed(&req.method, "POST"),
        },
        ["composite", "sobjects"] => match req.method {
            Method::POST => collections_create(data, req),
            Method::PATCH => collections_update(data, req),
            Method::DELETE => collections_delete(data, req),
            _ => method_not_allowed(&req.method, "DELETE,PATCH,POST"),
        },
        ["composite", "sobjects", ty, field] => match req.method {
            Method::PATCH => collections_upsert(data, req, ty, field),
            _ => method_not_allowed(&req.method, "PATCH"),
        },
        ["query"] => match req.method {
            Method::GET => query(data, req),
            _ => method_not_allowed(&req.method, "GET,HEAD"),
        },
        ["query", locator] => match req.method {
            Method::GET => query_more(data, req, locator),
            _ => method_not_allowed(&req.method, "GET,HEAD"),
        },
        _ => SfResponse::err(ApiError::not_found()),
    }
}

fn sobject_root(data: &mut SfData, req: &SfRequest, ty: &str) -> SfResponse {
    let obj = match object_or_404(ty) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    match req.method {
        Method::POST => {
            let input = match parse_object(&req.body) {
                Ok(m) => m,
                Err(e) => return e.into(),
            };
            match data.store.create(obj, &input, WriteMode::Api, req.now) {
                Ok(id) => {
                    let mut r = SfResponse::json(201, json!({"id": id, "success": true, "errors": []}));
                    r.headers
                        .push(("Location".into(), record_url(&req.version, obj.name, &id)));
                    r
                }
                Err(e) => e.into(),
            }
        }
        Method::GET => SfResponse::json(
            200,
            json!({"objectDescribe": {"name": obj.name, "keyPrefix": obj.key_prefix}, "recentItems": []}),
        ),
        _ => method_not_allowed(&req.method, "GET,HEAD,POST"),
    }
}

fn describe(req: &SfRequest, ty: &str) -> SfResponse {
    if req.method != Method::GET {
        return method_not_allowed(&req.method, "GET,HEAD");
    }
    let obj = match object_or_404(ty) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    let fields: Vec<Value> = obj
        .fields
        .iter()
        .map(|f| {
            let (ty, refs): (&str, Vec<&str>) = match f.ty {
                FieldType::Id => ("id", vec![]),
                FieldType::Text => ("string", vec![]),
                FieldType::Picklist | FieldType::RestrictedPicklist(_) => ("picklist", vec![]),
                FieldType::Reference(t) => ("reference", vec![t]),
                FieldType::Double => ("double", vec![]),
                FieldType::Currency => ("currency", vec![]),
                FieldType::Boolean => ("boolean", vec![]),
                FieldType::DateTime => ("datetime", vec![]),
                FieldType::Date => ("date", vec![]),
                FieldType::Email => ("email", vec![]),
                FieldType::Phone => ("phone", vec![]),
                FieldType::Url => ("url", vec![]),
                FieldType::AutoNumber(..) => ("string", vec![]),
            };
            json!({"name": f.name, "type": ty, "referenceTo": refs, "relationshipName": f.relationship,
                "externalId": f.external_id, "unique": f.unique, "createable": f.createable,
                "updateable": f.updateable, "nillable": !f.required,
                "autoNumber": matches!(f.ty, FieldType::AutoNumber(..))})
        })
        .collect();
    let children: Vec<Value> = obj
        .children
        .iter()
        .map(|c| json!({"relationshipName": c.name, "childSObject": c.child_type, "field": c.field}))
        .collect();
    SfResponse::json(
        200,
        json!({"name": obj.name, "keyPrefix": obj.key_prefix, "fields": fields, "childRelationships": children}),
    )
}

fn selected_fields(obj: &ObjectDef, query: &str) -> Result<Option<Vec<&'static str>>, ApiError> {
    let Some(list) = query_param(query, "fields") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let f = obj.field(name).ok_or_else(|| {
            ApiError::bad(
                "INVALID_FIELD",
                format!("No such column '{name}' on entity '{}'.", obj.name),
            )
        })?;
        out.push(f.name);
    }
    Ok(Some(out))
}

fn sobject_row(data: &mut SfData, req: &SfRequest, ty: &str, id: &str) -> SfResponse {
    let obj = match object_or_404(ty) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    match req.method {
        Method::GET => {
            let fields = match selected_fields(obj, &req.query) {
                Ok(f) => f,
                Err(e) => return e.into(),
            };
            match data.store.get(obj.name, id) {
                Some(rec) => SfResponse::json(200, record_json(&req.version, obj, rec, fields.as_deref())),
                None => ApiError::not_found().into(),
            }
        }
        Method::PATCH => {
            let input = match parse_object(&req.body) {
                Ok(m) => m,
                Err(e) => return e.into(),
            };
            // salesforce-api.md §2 [20]: the record is addressed by the URL, never by an Id in the body.
            if input.keys().any(|k| k.eq_ignore_ascii_case("Id")) {
                return ApiError::bad(
                    "INVALID_FIELD",
                    "The Id field should not be specified in the sobject data.",
                )
                .into();
            }
            match data.store.update(obj, id, &input, WriteMode::Api, req.now) {
                Ok(()) => SfResponse::empty(204),
                Err(e) => e.into(),
            }
        }
        Method::DELETE => match data.store.delete(obj, id) {
            Ok(()) => SfResponse::empty(204),
            Err(e) => e.into(),
        },
        _ => method_not_allowed(&req.method, "GET,HEAD,PATCH,DELETE"),
    }
}

/// The field usable in `/sobjects/{type}/{field}/{value}`: an external id or `Id`.
fn external_field<'a>(obj: &'a ObjectDef, field: &str) -> Result<&'a FieldDef, ApiError> {
    obj.field(field)
        .filter(|f| f.external_id || f.name == "Id")
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            )
        })
}

fn matches_for(store: &Store, obj: &ObjectDef, field: &FieldDef, value: &str) -> Vec<String> {
    if field.name == "Id" {
        return store
            .get(obj.name, value)
            .and_then(|r| r.get("Id").and_then(Value::as_str).map(|s| vec![s.to_string()]))
            .unwrap_or_default();
    }
    store.find_by(obj, field, value)
}

fn multiple_choices(version: &str, obj: &ObjectDef, ids: &[String]) -> SfResponse {
    let urls: Vec<Value> = ids
        .iter()
        .map(|i| Value::String(record_url(version, obj.name, i)))
        .collect();
    SfResponse::json(300, Value::Array(urls))
}

fn sobject_by_external_id(data: &mut SfData, req: &SfRequest, ty: &str, field: &str, value: &str) -> SfResponse {
    let obj = match object_or_404(ty) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    let ext = match external_field(obj, field) {
        Ok(f) => f,
        Err(e) => return e.into(),
    };
    let found = matches_for(&data.store, obj, ext, value);
    match req.method {
        Method::GET => {
            let fields = match selected_fields(obj, &req.query) {
                Ok(f) => f,
                Err(e) => return e.into(),
            };
            match found.as_slice() {
                [] => ApiError::not_found().into(),
                [one] => match data.store.get(obj.name, one) {
                    Some(rec) => SfResponse::json(200, record_json(&req.version, obj, rec, fields.as_deref())),
                    None => ApiError::not_found().into(),
                },
                many => multiple_choices(&req.version, obj, many),
            }
        }
        Method::PATCH => {
            let input = match parse_object(&req.body) {
                Ok(m) => m,
                Err(e) => return e.into(),
            };
            let update_only = query_param(&req.query, "updateOnly").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            match upsert_one(&mut data.store, obj, ext, value, input, update_only, req.now) {
                Ok(UpsertOutcome::Created(id)) => {
                    let mut r =
                        SfResponse::json(201, json!({"id": id, "success": true, "errors": [], "created": true}));
                    r.headers
                        .push(("Location".into(), record_url(&req.version, obj.name, &id)));
                    r
                }
                Ok(UpsertOutcome::Updated(id)) => {
                    // Open question (salesforce-api.md Open Questions #1): 200 with a body or 204.
                    if req.upsert_update_204 {
                        SfResponse::empty(204)
                    } else {
                        SfResponse::json(200, json!({"id": id, "success": true, "errors": [], "created": false}))
                    }
                }
                Ok(UpsertOutcome::Multiple(ids)) => multiple_choices(&req.version, obj, &ids),
                Err(e) => e.into(),
            }
        }
        Method::DELETE => match found.as_slice() {
            [] => ApiError::not_found().into(),
            [one] => match data.store.delete(obj, one) {
                Ok(()) => SfResponse::empty(204),
                Err(e) => e.into(),
            },
            many => multiple_choices(&req.version, obj, many),
        },
        _ => method_not_allowed(&req.method, "GET,HEAD,PATCH,DELETE"),
    }
}

enum UpsertOutcome {
    Created(String),
    Updated(String),
    Multiple(Vec<String>),
}

/// salesforce-api.md §2 [16][17][20]: none -> create, one -> update, several -> nothing written.
fn upsert_one(
    store: &mut Store,
    obj: &'static ObjectDef,
    ext: &FieldDef,
    value: &str,
    mut input: Map<String, Value>,
    update_only: bool,
    now: OffsetDateTime,
) -> Result<UpsertOutcome, ApiError> {
    input.remove("attributes");
    if input.keys().any(|k| k.eq_ignore_ascii_case("Id")) {
        return Err(ApiError::bad(
            "INVALID_FIELD",
            "The Id field should not be specified in the sobject data.",
        ));
    }
    if ext.name != "Id" && input.keys().any(|k| k.eq_ignore_ascii_case(ext.name)) {
        return Err(ApiError::bad(
            "INVALID_FIELD",
            format!("The {} field should not be specified in the sobject data.", ext.name),
        ));
    }
    let found = matches_for(store, obj, ext, value);
    match found.as_slice() {
        [] => {
            if update_only || ext.name == "Id" {
                return Err(ApiError::not_found());
            }
            input.insert(ext.name.to_string(), Value::String(value.to_string()));
            store
                .create(obj, &input, WriteMode::Api, now)
                .map(UpsertOutcome::Created)
        }
        [one] => {
            let id = one.clone();
            store.update(obj, &id, &input, WriteMode::Api, now)?;
            Ok(UpsertOutcome::Updated(id))
        }
        many => Ok(UpsertOutcome::Multiple(many.to_vec())),
    }
}

/// Parses `{"allOrNone": bool, "records": [...]}` and enforces the 200-record cap.
fn collection_body(body: &[u8]) -> Result<(bool, Vec<Value>), ApiError> {
    let m = parse_object(body)?;
    let all_or_none = match m.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::json_parser(
                "Cannot deserialize instance of boolean for allOrNone",
            ))
        }
    };
    let records = match m.get("records") {
        Some(Value::Array(a)) => a.clone(),
        _ => {
            return Err(ApiError::json_parser(
                "Required field 'records' is missing or not an array",
            ))
        }
    };
    if records.len() > COLLECTION_LIMIT {
        return Err(ApiError::bad(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    Ok((all_or_none, records))
}

fn record_type(rec: &Value, index: usize) -> Result<String, ApiError> {
    rec.get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::json_parser(format!(
                "No SObject Type defined in JSON: record at index {index} needs attributes.type"
            ))
        })
}

/// One per-record result before allOrNone post-processing.
enum ItemResult {
    Ok { id: String, created: Option<bool> },
    Failed { err: ApiError, created: Option<bool> },
}

/// Applies allOrNone (salesforce-api.md §2 [25][28]) and renders the result list in input order.
fn finish_collection(store: &mut Store, savepoint: Savepoint, all_or_none: bool, items: Vec<ItemResult>) -> SfResponse {
    let any_failed = items.iter().any(|i| matches!(i, ItemResult::Failed { .. }));
    let roll_back = all_or_none && any_failed;
    if roll_back {
        store.rollback(savepoint);
    } else {
        store.commit(savepoint);
    }
    let rendered: Vec<Value> = items
        .into_iter()
        .map(|i| match i {
            ItemResult::Ok { id, created } => {
                if roll_back {
                    let mut v = json!({"success": false, "errors": [{
                        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                        "fields": []}]});
                    if let (Some(_), Value::Object(m)) = (created, &mut v) {
                        m.insert("created".into(), Value::Bool(false));
                    }
                    v
                } else {
                    let mut v = json!({"id": id, "success": true, "errors": []});
                    if let (Some(c), Value::Object(m)) = (created, &mut v) {
                        m.insert("created".into(), Value::Bool(c));
                    }
                    v
                }
            }
            ItemResult::Failed { err, created } => {
                let mut v = json!({"success": false, "errors": [err.record_error()]});
                if let (Some(_), Value::Object(m)) = (created, &mut v) {
                    m.insert("created".into(), Value::Bool(false));
                }
                v
            }
        })
        .collect();
    SfResponse::json(200, Value::Array(rendered))
}

fn collections_create(data: &mut SfData, req: &SfRequest) -> SfResponse {
    let (all_or_none, records) = match collection_body(&req.body) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let mut typed = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let ty = match record_type(r, i) {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let obj = match schema().object(&ty) {
            Some(o) => o,
            None => {
                return ApiError::bad("INVALID_TYPE", format!("sObject type '{ty}' is not supported.")).into();
            }
        };
        typed.push((obj, r.as_object().cloned().unwrap_or_default()));
    }
    let savepoint = data.store.begin();
    let items = typed
        .into_iter()
        .map(|(obj, mut fields)| {
            fields.remove("attributes");
            if fields.keys().any(|k| k.eq_ignore_ascii_case("Id")) {
                return ItemResult::Failed {
                    err: ApiError::bad("INVALID_FIELD", "cannot specify Id in an insert call"),
                    created: None,
                };
            }
            match data.store.create(obj, &fields, WriteMode::Api, req.now) {
                Ok(id) => ItemResult::Ok { id, created: None },
                Err(err) => ItemResult::Failed { err, created: None },
            }
        })
        .collect();
    finish_collection(&mut data.store, savepoint, all_or_none, items)
}

fn collections_update(data: &mut SfData, req: &SfRequest) -> SfResponse {
    let (all_or_none, records) = match collection_body(&req.body) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let mut typed = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let ty = match record_type(r, i) {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let Some(obj) = schema().object(&ty) else {
            return ApiError::bad("INVALID_TYPE", format!("sObject type '{ty}' is not supported.")).into();
        };
        typed.push((obj, r.as_object().cloned().unwrap_or_default()));
    }
    let savepoint = data.store.begin();
    let items = typed
        .into_iter()
        .map(|(obj, mut fields)| {
            fields.remove("attributes");
            let id_key = fields.keys().find(|k| k.eq_ignore_ascii_case("id")).cloned();
            let Some(id) = id_key
                .and_then(|k| fields.remove(&k))
                .and_then(|v| v.as_str().map(str::to_string))
            else {
                return ItemResult::Failed {
                    err: ApiError::bad("MISSING_ARGUMENT", "Id not specified in an update call"),
                    created: None,
                };
            };
            if ids::to18(&id).is_none_or(|i| !i.starts_with(obj.key_prefix)) {
                return ItemResult::Failed {
                    err: ApiError::bad(
                        "MALFORMED_ID",
                        format!("{}: id value of incorrect type: {id}", obj.name),
                    ),
                    created: None,
                };
            }
            if data.store.get(obj.name, &id).is_none() {
                return ItemResult::Failed {
                    err: ApiError::bad("ENTITY_IS_DELETED", "entity is deleted"),
                    created: None,
                };
            }
            match data.store.update(obj, &id, &fields, WriteMode::Api, req.now) {
                Ok(()) => ItemResult::Ok {
                    id: ids::to18(&id).unwrap_or(id),
                    created: None,
                },
                Err(err) => ItemResult::Failed { err, created: None },
            }
        })
        .collect();
    finish_collection(&mut data.store, savepoint, all_or_none, items)
}

fn collections_upsert(data: &mut SfData, req: &SfRequest, ty: &str, field: &str) -> SfResponse {
    let obj = match object_or_404(ty) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    let ext = match external_field(obj, field) {
        Ok(f) => f,
        Err(e) => return e.into(),
    };
    let (all_or_none, records) = match collection_body(&req.body) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    for (i, r) in records.iter().enumerate() {
        let rt = match record_type(r, i) {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        // salesforce-api.md §2 [23]: upsert collections take a single type.
        if !rt.eq_ignore_ascii_case(obj.name) {
            return ApiError::bad(
                "INVALID_TYPE",
                format!("The sObject type {rt} does not match the type {} in the URL", obj.name),
            )
            .into();
        }
    }
    let savepoint = data.store.begin();
    let items = records
        .into_iter()
        .map(|r| {
            let mut fields = r.as_object().cloned().unwrap_or_default();
            fields.remove("attributes");
            if fields.keys().any(|k| k.eq_ignore_ascii_case("Id")) {
                return ItemResult::Failed {
                    err: ApiError::bad(
                        "INVALID_FIELD",
                        "The Id field should not be specified in the sobject data.",
                    ),
                    created: Some(false),
                };
            }
            let key = fields.keys().find(|k| k.eq_ignore_ascii_case(ext.name)).cloned();
            let value = key.and_then(|k| fields.remove(&k)).and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            let Some(value) = value else {
                return ItemResult::Failed {
                    err: ApiError::bad("MISSING_ARGUMENT", format!("{} not specified", ext.name)),
                    created: Some(false),
                };
            };
            match upsert_one(&mut data.store, obj, ext, &value, fields, false, req.now) {
                Ok(UpsertOutcome::Created(id)) => ItemResult::Ok {
                    id,
                    created: Some(true),
                },
                Ok(UpsertOutcome::Updated(id)) => ItemResult::Ok {
                    id,
                    created: Some(false),
                },
                Ok(UpsertOutcome::Multiple(ids)) => ItemResult::Failed {
                    err: ApiError::bad(
                        "DUPLICATE_EXTERNAL_ID",
                        format!(
                            "{}: more than one record found for external id field: [{}]",
                            ext.name,
                            ids.join(", ")
                        ),
                    )
                    .with_fields(vec![ext.name.to_string()]),
                    created: Some(false),
                },
                Err(err) => ItemResult::Failed {
                    err,
                    created: Some(false),
                },
            }
        })
        .collect();
    finish_collection(&mut data.store, savepoint, all_or_none, items)
}

fn collections_delete(data: &mut SfData, req: &SfRequest) -> SfResponse {
    let ids_param = query_param(&req.query, "ids").unwrap_or_default();
    let list: Vec<String> = ids_param
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        return ApiError::bad("MISSING_ARGUMENT", "ids not specified").into();
    }
    if list.len() > COLLECTION_LIMIT {
        return ApiError::bad(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
        .into();
    }
    let all_or_none = query_param(&req.query, "allOrNone").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let savepoint = data.store.begin();
    let items = list
        .into_iter()
        .map(|id| {
            let found = data.store.get_any(&id).map(|(obj, _)| obj);
            match found {
                Some(obj) => match data.store.delete(obj, &id) {
                    Ok(()) => ItemResult::Ok {
                        id: ids::to18(&id).unwrap_or(id),
                        created: None,
                    },
                    Err(err) => ItemResult::Failed { err, created: None },
                },
                None => ItemResult::Failed {
                    err: ApiError::bad("ENTITY_IS_DELETED", "entity is deleted"),
                    created: None,
                },
            }
        })
        .collect();
    finish_collection(&mut data.store, savepoint, all_or_none, items)
}

fn query(data: &mut SfData, req: &SfRequest) -> SfResponse {
    let Some(q) = query_param(&req.query, "q") else {
        return ApiError::malformed_query("A query string has to be specified").into();
    };
    let result = match soql::execute(&data.store, &req.version, &q) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    data.next_cursor += 1;
    let locator_base = format!("01g5g0{:012}", data.next_cursor);
    let batch = req.batch_size.clamp(200, QUERY_BATCH_MAX);
    page(
        data,
        &req.version,
        &locator_base,
        result.total_size,
        result.records,
        0,
        batch,
    )
}

/// Serves one batch and parks the rest under a query locator (salesforce-api.md §2 [33]).
fn page(
    data: &mut SfData,
    version: &str,
    locator_base: &str,
    total: usize,
    records: Vec<Value>,
    offset: usize,
    batch: usize,
) -> SfResponse {
    let end = (offset + batch).min(records.len());
    let slice: Vec<Value> = records.get(offset..end).map(<[Value]>::to_vec).unwrap_or_default();
    let done = end >= records.len();
    let mut body = json!({"totalSize": total, "done": done, "records": slice});
    if done {
        data.cursors.remove(locator_base);
    } else {
        if let Value::Object(m) = &mut body {
            m.insert(
                "nextRecordsUrl".into(),
                Value::String(format!("/services/data/{version}/query/{locator_base}-{end}")),
            );
        }
        data.cursors
            .insert(locator_base.to_string(), super::Cursor { records, total, batch });
    }
    SfResponse::json(200, body)
}

fn query_more(data: &mut SfData, req: &SfRequest, locator: &str) -> SfResponse {
    let invalid = || ApiError::bad("INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((base, offset)) = locator.rsplit_once('-') else {
        return invalid().into();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid().into();
    };
    let Some(cursor) = data.cursors.get(base) else {
        return invalid().into();
    };
    let (records, total, batch) = (cursor.records.clone(), cursor.total, cursor.batch);
    if offset >= records.len() {
        return invalid().into();
    }
    page(data, &req.version, base, total, records, offset, batch)
}

/// Resolves `@{ref.path}` against earlier subrequest bodies.
fn lookup_reference(expr: &str, results: &HashMap<String, (u16, Value)>) -> Result<Value, String> {
    let ref_end = expr.find(['.', '[']).unwrap_or(expr.len());
    let ref_id = &expr[..ref_end];
    let (status, body) = results.get(ref_id).ok_or_else(|| ref_id.to_string())?;
    if *status >= 400 {
        return Err(ref_id.to_string());
    }
    let mut cur = body.clone();
    let mut rest = &expr[ref_end..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur
                .as_object()
                .and_then(|m| {
                    m.get(key)
                        .or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
                })
                .cloned()
                .ok_or_else(|| ref_id.to_string())?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| ref_id.to_string())?;
            let idx: usize = r[..end].parse().map_err(|_| ref_id.to_string())?;
            cur = cur.get(idx).cloned().ok_or_else(|| ref_id.to_string())?;
            rest = &r[end + 1..];
        } else {
            return Err(ref_id.to_string());
        }
    }
    Ok(cur)
}

fn substitute_str(s: &str, results: &HashMap<String, (u16, Value)>) -> Result<Value, (String, String)> {
    // A string that is exactly one reference takes the referenced JSON value as is.
    if let Some(inner) = s.strip_prefix("@{").and_then(|r| r.strip_suffix('}')) {
        if !inner.contains('}') {
            return lookup_reference(inner, results).map_err(|r| (inner.to_string(), r));
        }
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let expr = &after[..end];
        let v = lookup_reference(expr, results).map_err(|r| (expr.to_string(), r))?;
        match v {
            Value::String(t) => out.push_str(&t),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn substitute(v: &Value, results: &HashMap<String, (u16, Value)>) -> Result<Value, (String, String)> {
    Ok(match v {
        Value::String(s) => substitute_str(s, results)?,
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, results)).collect::<Result<_, _>>()?),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(k.clone(), substitute(x, results)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn halted(message: String) -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": message}])
}

/// salesforce-api.md §2 [26][27][28]: composite runs subrequests in order, resolving references;
/// the HTTP status is 200 either way.
fn composite(data: &mut SfData, req: &SfRequest) -> SfResponse {
    let body = match parse_object(&req.body) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let all_or_none = body.get("allOrNone").and_then(Value::as_bool).unwrap_or(false);
    let Some(subs) = body.get("compositeRequest").and_then(Value::as_array) else {
        return ApiError::json_parser("Required field 'compositeRequest' is missing").into();
    };
    if subs.len() > COMPOSITE_LIMIT {
        return ApiError::bad(
            "LIMIT_EXCEEDED",
            format!(
                "The number of subrequests ({}) exceeds the limit of {COMPOSITE_LIMIT}",
                subs.len()
            ),
        )
        .into();
    }
    let queries = subs
        .iter()
        .filter(|s| {
            s.get("url")
                .and_then(Value::as_str)
                .is_some_and(|u| u.contains("/query"))
        })
        .count();
    if queries > COMPOSITE_QUERY_LIMIT {
        return ApiError::bad(
            "LIMIT_EXCEEDED",
            format!("The number of query subrequests ({queries}) exceeds the limit of {COMPOSITE_QUERY_LIMIT}"),
        )
        .into();
    }
    let mut savepoint = Some(data.store.begin());
    let mut results: HashMap<String, (u16, Value)> = HashMap::new();
    let mut out: Vec<Value> = Vec::new();
    let mut rolled_back = false;
    for sub in subs {
        let ref_id = sub
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if rolled_back {
            out.push(json!({"body": halted("The transaction was rolled back since another operation in the same transaction failed.".into()),
                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref_id}));
            continue;
        }
        let resp = run_subrequest(data, req, sub, &results);
        let body_v = resp.body.clone().unwrap_or(Value::Null);
        let headers: Map<String, Value> = resp
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        results.insert(ref_id.clone(), (resp.status, body_v.clone()));
        out.push(json!({"body": body_v, "httpHeaders": headers, "httpStatusCode": resp.status, "referenceId": ref_id}));
        if all_or_none && resp.status >= 400 {
            rolled_back = true;
            if let Some(sp) = savepoint.take() {
                data.store.rollback(sp);
            }
            let failed_index = out.len() - 1;
            for (i, item) in out.iter_mut().enumerate() {
                if i != failed_index {
                    *item = json!({"body": halted("The transaction was rolled back since another operation in the same transaction failed.".into()),
                        "httpHeaders": {}, "httpStatusCode": 400, "referenceId": item["referenceId"].clone()});
                }
            }
        }
    }
    if let Some(sp) = savepoint {
        data.store.commit(sp);
    }
    SfResponse::json(200, json!({"compositeResponse": out}))
}

fn run_subrequest(
    data: &mut SfData,
    parent: &SfRequest,
    sub: &Value,
    results: &HashMap<String, (u16, Value)>,
) -> SfResponse {
    let method = sub
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok());
    let (Some(method), Some(url)) = (method, sub.get("url").and_then(Value::as_str)) else {
        return ApiError::json_parser("Each subrequest needs method and url").into();
    };
    let url = match substitute_str(url, results) {
        Ok(Value::String(u)) => u,
        Ok(other) => other.to_string(),
        Err((expr, r)) => {
            return SfResponse::json(
                400,
                halted(format!(
                    "Invalid reference specified. No value for {expr} found in {r}. Provided referenceId ensure it exists and was processed successfully."
                )),
            )
        }
    };
    let body = match sub.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(b) => match substitute(b, results) {
            Ok(v) => serde_json::to_vec(&v).unwrap_or_default(),
            Err((expr, r)) => {
                return SfResponse::json(
                    400,
                    halted(format!(
                        "Invalid reference specified. No value for {expr} found in {r}. Provided referenceId ensure it exists and was processed successfully."
                    )),
                )
            }
        },
    };
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return ApiError::not_found().into();
    };
    let mut parts = rest.split('/');
    let version = parts.next().unwrap_or_default().to_string();
    if super::parse_version(&version).is_none() {
        return ApiError::not_found().into();
    }
    let segments: Vec<String> = parts.map(percent_decode).collect();
    if segments.first().map(String::as_str) == Some("composite") && segments.len() == 1 {
        return ApiError::bad(
            "INVALID_INPUT",
            "Composite subrequests cannot call the composite resource",
        )
        .into();
    }
    let sub_req = SfRequest {
        method,
        version,
        segments,
        query: query.to_string(),
        body,
        batch_size: parent.batch_size,
        upsert_update_204: parent.upsert_update_204,
        now: parent.now,
    };
    dispatch(data, &sub_req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_leaves_plus_alone() {
        assert_eq!(percent_decode("FO%2D1%20a+b"), "FO-1 a+b");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn references_resolve_fields_and_indexes() {
        let mut r = HashMap::new();
        r.insert("ship".to_string(), (201, json!({"id":"X1"})));
        r.insert("coll".to_string(), (200, json!([{"id":"A"},{"id":"B"}])));
        r.insert("q".to_string(), (200, json!({"records":[{"Id":"Q1"}]})));
        r.insert("bad".to_string(), (400, json!([])));
        assert_eq!(lookup_reference("ship.id", &r), Ok(json!("X1")));
        assert_eq!(lookup_reference("coll[1].id", &r), Ok(json!("B")));
        assert_eq!(lookup_reference("q.records[0].Id", &r), Ok(json!("Q1")));
        assert!(lookup_reference("bad.id", &r).is_err());
        assert_eq!(
            substitute_str("/sobjects/Shipment/@{ship.id}?x=1", &r),
            Ok(json!("/sobjects/Shipment/X1?x=1"))
        );
    }
}
