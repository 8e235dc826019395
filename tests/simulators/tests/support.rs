//! Shared helpers: start a simulator, call it over HTTP, run a local webhook receiver.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use waybill_simulators::logiwa::{LogiwaConfig, LogiwaSeed, LogiwaSim, LogiwaState};
use waybill_simulators::salesforce::{SalesforceConfig, SalesforceSim, SalesforceState};
use waybill_simulators::RunningSim;

pub const V: &str = "v62.0";

/// A decoded HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|h| h.to_str().ok()).map(str::to_string)
    }
}

pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request reaches the simulator");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body readable");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp { status, headers, body }
}

/// A Salesforce simulator plus a client holding a token from the OAuth endpoint.
pub struct Sf {
    pub sim: RunningSim<SalesforceState>,
    pub http: reqwest::Client,
    pub token: String,
}

impl Sf {
    pub async fn start(config: SalesforceConfig) -> Self {
        let sim = SalesforceSim::start(config).await.expect("salesforce sim starts");
        let http = waybill_simulators::http_client();
        let cfg = sim.state().config().clone();
        let r = send(http.post(format!("{}/services/oauth2/token", sim.base_url())).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
        ]))
        .await;
        assert_eq!(r.status, 200, "token: {:?}", r.body);
        let token = r.body["access_token"].as_str().expect("access_token").to_string();
        Self { sim, http, token }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/services/data/{V}/{path}", self.sim.base_url())
    }

    pub fn state(&self) -> &SalesforceState {
        self.sim.state()
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.http.get(self.url(path)).bearer_auth(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        send(self.http.post(self.url(path)).bearer_auth(&self.token).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        send(self.http.patch(self.url(path)).bearer_auth(&self.token).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        send(self.http.delete(self.url(path)).bearer_auth(&self.token)).await
    }

    pub async fn query(&self, soql: &str) -> Resp {
        send(
            self.http
                .get(self.url("query"))
                .query(&[("q", soql)])
                .bearer_auth(&self.token),
        )
        .await
    }
}

/// A Logiwa simulator seeded with the demo catalogue, plus a client holding a token.
pub struct Lw {
    pub sim: RunningSim<LogiwaState>,
    pub http: reqwest::Client,
    pub token: String,
}

pub const CLIENT: &str = "7546ad2f-81d1-4308-b744-2e29af43fc16";
pub const WAREHOUSE: &str = "4b8aa8cc-2685-4cbd-87c6-4fa90c14b70c";

impl Lw {
    pub async fn start_default() -> Self {
        Self::start(LogiwaConfig {
            seed: LogiwaSeed::demo(),
            webhook_backoff: Duration::from_millis(20),
            ..LogiwaConfig::default()
        })
        .await
    }

    pub async fn start(config: LogiwaConfig) -> Self {
        let sim = LogiwaSim::start(config).await.expect("logiwa sim starts");
        let http = waybill_simulators::http_client();
        let cfg = sim.state().config().clone();
        let r = send(
            http.post(format!("{}/v3.1/Authorize/token", sim.base_url()))
                .json(&serde_json::json!({"email": cfg.email, "password": cfg.password})),
        )
        .await;
        assert_eq!(r.status, 200, "token: {:?}", r.body);
        let token = r.body["token"].as_str().expect("token").to_string();
        Self { sim, http, token }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v3.1/{path}", self.sim.base_url())
    }

    pub fn state(&self) -> &LogiwaState {
        self.sim.state()
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.http.get(self.url(path)).bearer_auth(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        send(self.http.post(self.url(path)).bearer_auth(&self.token).json(body)).await
    }

    /// A valid create body for the demo catalogue.
    pub fn order(code: &str, qty: i64) -> Value {
        serde_json::json!({
            "code": code,
            "clientIdentifier": CLIENT,
            "warehouseIdentifier": WAREHOUSE,
            "currencyId": 1,
            "shipmentOrderDate": "2026-11-23T01:02:03Z",
            "shipmentOrderType": "Shipment Order",
            "customer": {"firstName": "Ann", "lastName": "Example", "email": "ann@example.com"},
            "shipmentAddress": {"firstName": "Ann", "lastName": "Example", "country": "US", "state": "IL",
                "addressLine1": "1 Main St", "city": "Springfield", "postalCode": "62701", "type": "Residential"},
            "shipmentOrderLineList": [{"sku": "SKU-1", "packType": "Unit", "packQuantity": qty, "unitPrice": 10.0}]
        })
    }
}

/// A local HTTP endpoint that records webhook POSTs; answers with `statuses` in turn, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub base_url: String,
    pub hits: Arc<Mutex<Vec<(String, Value)>>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<(String, Value)>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(st): State<ReceiverState>, Path(path): Path<String>, body: Bytes) -> http::StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    st.hits.lock().expect("lock").push((path, v));
    let next = {
        let mut s = st.statuses.lock().expect("lock");
        if s.is_empty() {
            200
        } else {
            s.remove(0)
        }
    };
    http::StatusCode::from_u16(next).unwrap_or(http::StatusCode::OK)
}

impl Receiver {
    pub async fn start(statuses: Vec<u16>) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let st = ReceiverState {
            hits: hits.clone(),
            statuses: Arc::new(Mutex::new(statuses)),
        };
        let app = Router::new().route("/{*path}", post(receive)).with_state(st);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            hits,
            _server: Arc::new(server),
        }
    }

    pub fn hits(&self) -> Vec<(String, Value)> {
        self.hits.lock().expect("lock").clone()
    }

    /// Waits (bounded) until at least `n` POSTs arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        for _ in 0..200 {
            let h = self.hits();
            if h.len() >= n {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.hits()
    }
}
