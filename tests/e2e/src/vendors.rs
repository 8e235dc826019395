//! Vendor-native clients the harness uses to seed and inspect the simulators exactly as an operator (or
//! the vendor's own UI) would: Salesforce REST (OAuth, sObjects, SOQL) and Logiwa IO v3.1, plus the
//! simulators' `/__sim` admin API where only the warehouse itself could act (seeding stock, shipping).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};

/// Calls the harness itself made to a simulator's vendor API, by the simulator's stats family, so the
/// summary can separate them from waybill's own calls.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallLog {
    fn add(&self, family: &str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(family.to_owned()).or_insert(0) += 1;
        }
    }

    /// Calls per family so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Salesforce REST API version used by the harness.
pub const SF_API: &str = "v62.0";

/// Sends a request and reads its JSON answer; a non-2xx status is an error carrying the vendor's body.
async fn send_json(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let resp = req.send().await.with_context(|| what.to_owned())?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {v}");
    }
    Ok((status, v))
}

/// A tiny Salesforce REST client (client-credentials OAuth).
#[derive(Debug, Clone)]
pub struct SalesforceRest {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Calls made (families as the simulator counts them).
    pub calls: CallLog,
}

impl SalesforceRest {
    /// Logs in with the client-credentials flow.
    ///
    /// # Errors
    /// When the token call fails.
    pub async fn login(base: &str, client_id: &str, client_secret: &str) -> anyhow::Result<Self> {
        let http = waybill_simulators::http_client();
        let resp = http
            .post(format!("{base}/services/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await
            .context("salesforce oauth")?;
        let status = resp.status();
        let v: Value = resp.json().await.context("salesforce oauth reply")?;
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .with_context(|| format!("salesforce oauth {status}: {v}"))?;
        let calls = CallLog::default();
        calls.add("oauth");
        Ok(Self {
            http,
            base: base.to_owned(),
            token: token.to_owned(),
            calls,
        })
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/services/data/{SF_API}/{rest}", self.base)
    }

    /// `POST sobjects/{type}` → the new id.
    ///
    /// # Errors
    /// Non-201 answers, with Salesforce's error body.
    pub async fn create(&self, sobject: &str, fields: &Value) -> anyhow::Result<String> {
        self.calls.add("sobjects");
        let req = self
            .http
            .post(self.url(&format!("sobjects/{sobject}")))
            .bearer_auth(&self.token)
            .json(fields);
        let (status, v) = send_json(req, &format!("creating {sobject}")).await?;
        if status.as_u16() != 201 {
            bail!("creating {sobject}: HTTP {status}: {v}");
        }
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("creating {sobject}: no id in {v}"))
    }

    /// `GET sobjects/{type}/{id}`.
    ///
    /// # Errors
    /// Non-200 answers.
    pub async fn get(&self, sobject: &str, id: &str) -> anyhow::Result<Value> {
        self.calls.add("sobjects");
        let req = self
            .http
            .get(self.url(&format!("sobjects/{sobject}/{id}")))
            .bearer_auth(&self.token);
        Ok(send_json(req, &format!("reading {sobject} {id}")).await?.1)
    }

    /// `GET query?q=` → records (first batch; the harness' queries are small).
    ///
    /// # Errors
    /// Non-200 answers.
    pub async fn query(&self, soql: &str) -> anyhow::Result<Vec<Value>> {
        self.calls.add("query");
        let req = self
            .http
            .get(self.url("query"))
            .query(&[("q", soql)])
            .bearer_auth(&self.token);
        let (_, v) = send_json(req, "SOQL").await?;
        Ok(v.get("records").and_then(Value::as_array).cloned().unwrap_or_default())
    }
}

/// A tiny Logiwa IO v3.1 client.
#[derive(Debug, Clone)]
pub struct LogiwaRest {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Calls made (families as the simulator counts them).
    pub calls: CallLog,
}

impl LogiwaRest {
    /// `POST /v3.1/Authorize/token`.
    ///
    /// # Errors
    /// When the token call fails.
    pub async fn login(base: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let http = waybill_simulators::http_client();
        let resp = http
            .post(format!("{base}/v3.1/Authorize/token"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .context("logiwa token")?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .with_context(|| format!("logiwa token: HTTP {status}: {v}"))?;
        let calls = CallLog::default();
        calls.add("token");
        Ok(Self {
            http,
            base: base.to_owned(),
            token: token.to_owned(),
            calls,
        })
    }

    /// `GET /v3.1/ShipmentOrder/list/i/0/s/200?Code.eq=<code>` → rows.
    ///
    /// # Errors
    /// Non-200 answers.
    pub async fn orders_by_code(&self, code: &str) -> anyhow::Result<Vec<Value>> {
        self.calls.add("shipmentorder.list");
        let req = self
            .http
            .get(format!("{}/v3.1/ShipmentOrder/list/i/0/s/200", self.base))
            .query(&[("Code.eq", code)])
            .bearer_auth(&self.token);
        let (_, v) = send_json(req, "listing shipment orders").await?;
        Ok(v.get("data").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// `POST /v3.1/Webhook/create` for one topic.
    ///
    /// # Errors
    /// Non-2xx answers.
    pub async fn subscribe(&self, topic: &str, address: &str, client: &str) -> anyhow::Result<String> {
        self.calls.add("webhook");
        let req = self
            .http
            .post(format!("{}/v3.1/Webhook/create", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"topic": topic, "address": address, "clientIdentifier": client}));
        let (_, v) = send_json(req, &format!("subscribing {topic}")).await?;
        Ok(v.get("data").and_then(Value::as_str).unwrap_or_default().to_owned())
    }
}

/// POSTs JSON to a simulator admin route and returns the JSON answer.
///
/// # Errors
/// Non-2xx answers.
pub async fn admin_post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    Ok(send_json(http.post(url).json(body), &format!("POST {url}")).await?.1)
}

/// The local catalogue (`events/local/catalog.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    /// Logiwa side.
    pub logiwa: LogiwaCatalog,
    /// Salesforce side.
    pub salesforce: SalesforceCatalog,
    /// Products on both sides.
    pub products: Vec<ProductEntry>,
}

/// Logiwa warehouse and client.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogiwaCatalog {
    /// Warehouse (`identifier`, `code`, `name`).
    pub warehouse: Value,
    /// Client (`identifier`, `name`).
    pub client: Value,
    /// Bin for the seeded stock.
    pub location_code: String,
}

/// Salesforce reference records.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesforceCatalog {
    /// Account name.
    pub account: String,
    /// Location (`name`, `externalReference`, `locationType`).
    pub location: Value,
    /// OrderDeliveryMethod (`name`, `referenceNumber`, `carrier`, `classOfService`).
    pub delivery_method: Value,
    /// Currency ISO code.
    pub currency: String,
}

/// One product.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductEntry {
    /// Salesforce StockKeepingUnit.
    pub sku: String,
    /// Logiwa SKU.
    pub wms_sku: String,
    /// Name.
    pub name: String,
    /// Price.
    pub unit_price: f64,
    /// Seeded stock.
    pub on_hand: i64,
}

impl Catalog {
    /// Reads the catalogue.
    ///
    /// # Errors
    /// When unreadable or invalid.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a catalogue", path.display()))
    }

    /// Logiwa warehouse identifier.
    pub fn warehouse_id(&self) -> String {
        self.logiwa
            .warehouse
            .get("identifier")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Logiwa client identifier.
    pub fn client_id(&self) -> String {
        self.logiwa
            .client
            .get("identifier")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }
}

/// Ids of the Salesforce reference records seeded for the scenario.
#[derive(Debug, Clone, Default)]
pub struct SalesforceRefs {
    /// Account.
    pub account: String,
    /// Location.
    pub location: String,
    /// OrderDeliveryMethod.
    pub delivery_method: String,
    /// OrderSummary.
    pub order_summary: String,
    /// `(sku, Product2 id, unit price)`.
    pub products: Vec<(String, String, f64)>,
}

/// Seeds Salesforce through its REST API: Account, Location, OrderDeliveryMethod, Product2s, OrderSummary.
///
/// # Errors
/// When a create is refused.
pub async fn seed_salesforce(sf: &SalesforceRest, c: &Catalog) -> anyhow::Result<SalesforceRefs> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let account = sf.create("Account", &json!({"Name": c.salesforce.account})).await?;
    let loc = &c.salesforce.location;
    let location = sf
        .create(
            "Location",
            &json!({"Name": s(loc, "name"), "ExternalReference": s(loc, "externalReference"), "LocationType": s(loc, "locationType")}),
        )
        .await?;
    let dm = &c.salesforce.delivery_method;
    let delivery_method = sf
        .create(
            "OrderDeliveryMethod",
            &json!({"Name": s(dm, "name"), "ReferenceNumber": s(dm, "referenceNumber"), "Carrier": s(dm, "carrier"),
                    "ClassOfService": s(dm, "classOfService"), "IsActive": true}),
        )
        .await?;
    let mut products = Vec::new();
    for p in &c.products {
        let id = sf
            .create(
                "Product2",
                &json!({"Name": p.name, "StockKeepingUnit": p.sku, "ProductCode": p.sku, "QuantityUnitOfMeasure": "Each", "IsActive": true}),
            )
            .await?;
        products.push((p.sku.clone(), id, p.unit_price));
    }
    let order_summary = sf
        .create(
            "OrderSummary",
            &json!({"AccountId": account, "CurrencyIsoCode": c.salesforce.currency, "OrderedDate": "2026-11-20T10:00:00Z", "Status": "Approved"}),
        )
        .await?;
    Ok(SalesforceRefs {
        account,
        location,
        delivery_method,
        order_summary,
        products,
    })
}

/// Seeds Logiwa through the simulator's admin API: warehouse, client, products (pack type `Unit`), stock.
///
/// # Errors
/// When a seed call is refused.
pub async fn seed_logiwa(http: &reqwest::Client, base: &str, c: &Catalog) -> anyhow::Result<()> {
    admin_post(http, &format!("{base}/__sim/logiwa/warehouses"), &c.logiwa.warehouse).await?;
    admin_post(http, &format!("{base}/__sim/logiwa/clients"), &c.logiwa.client).await?;
    let client = c.client_id();
    for p in &c.products {
        admin_post(
            http,
            &format!("{base}/__sim/logiwa/products"),
            &json!({"clientIdentifier": client, "sku": p.wms_sku, "name": p.name, "packTypes": ["Unit"]}),
        )
        .await?;
        admin_post(
            http,
            &format!("{base}/__sim/logiwa/inventory"),
            &json!({"clientIdentifier": client, "warehouseIdentifier": c.warehouse_id(), "sku": p.wms_sku,
                    "locationCode": c.logiwa.location_code, "quantity": p.on_hand}),
        )
        .await?;
    }
    Ok(())
}
