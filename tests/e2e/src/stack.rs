//! The local stack: moto + both vendor simulators + the four functions wired exactly as
//! `infra/template.yaml` declares (queues, redrive, table, secrets, HTTP routes, event source mappings,
//! schedule). Tests and the `waybill-local` binary both start it through `Stack::start`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_types::SdkConfig;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use waybill::wiring::Aws;
use waybill_simulators::{
    LogiwaConfig, LogiwaSim, LogiwaState, RunningSim, SalesforceConfig, SalesforceSim, SalesforceState,
};

use crate::esm::{queue_counts, EventSourceMapping};
use crate::front::{self, Route};
use crate::functions::{by_package, LocalFunction};
use crate::provision::{self, Provisioned};
use crate::template::{Template, ACCOUNT_ID, REGION};
use crate::vendors::{self, Catalog, LogiwaRest, SalesforceRefs, SalesforceRest};

/// Logiwa topics the stack subscribes the front to.
pub const LOGIWA_TOPICS: [&str; 2] = ["wms/shipmentorder/shipment", "wms/shipmentorder/statuschange"];

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Value of the template's `Environment` parameter; names every queue and the table. None = a unique
    /// `l<8 hex>` so stacks sharing one moto never collide.
    pub environment: Option<String>,
    /// moto endpoint; None = the process-wide shared moto (`waybill::testing::Moto::shared`).
    pub moto_endpoint: Option<String>,
    /// Front port (0 = ephemeral).
    pub front_port: u16,
    /// Salesforce simulator port (0 = ephemeral).
    pub salesforce_port: u16,
    /// Logiwa simulator port (0 = ephemeral).
    pub logiwa_port: u16,
    /// Overrides the template's `MaxReceiveCount` parameter.
    pub max_receive_count_override: Option<u32>,
    /// Time compression: failed records become visible again after this many seconds.
    pub visibility_timeout_override: Option<u32>,
    /// Client-side Logiwa rate per function (`LOGIWA_REQUESTS_PER_SECOND`).
    pub logiwa_requests_per_second: u32,
    /// Start the SQS pollers (event source mappings).
    pub start_pollers: bool,
    /// Fire the scheduled functions every so often (compressed schedule); None = only on demand.
    pub schedule_every: Option<Duration>,
    /// `infra/template.yaml`.
    pub template: PathBuf,
    /// `events/local/catalog.json`.
    pub catalog: PathBuf,
    /// `events/local/mappings.json`.
    pub mappings: PathBuf,
    /// More parameter overrides.
    pub parameter_overrides: HashMap<String, String>,
    /// Logiwa topics the front subscribes to (default: both of `LOGIWA_TOPICS`).
    pub logiwa_topics: Vec<&'static str>,
    /// More environment for every function (local-only settings, e.g. shorter vendor timeouts).
    pub extra_env: BTreeMap<String, String>,
    /// Logiwa webhook chaos: random head start per delivery.
    pub logiwa_webhook_jitter: Duration,
    /// Logiwa webhook chaos: share of events delivered two or three times.
    pub logiwa_webhook_duplicate_share: f64,
    /// Seed of the simulators' chaos generators.
    pub chaos_seed: u64,
    /// The Salesforce org's daily API limit (None = the simulator's default).
    pub salesforce_api_limit: Option<u64>,
    /// A second moto for SQS alone (None = SQS on `moto_endpoint` too). moto serves one request at a
    /// time per process, so a storm of thousands of orders runs two, one per core.
    pub moto_sqs_endpoint: Option<String>,
}

/// The workspace root (`tests/e2e/../..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

impl Default for StackOptions {
    fn default() -> Self {
        let root = workspace_root();
        Self {
            environment: None,
            moto_endpoint: None,
            front_port: 0,
            salesforce_port: 0,
            logiwa_port: 0,
            max_receive_count_override: None,
            visibility_timeout_override: None,
            logiwa_requests_per_second: 10,
            start_pollers: true,
            schedule_every: None,
            template: root.join("infra/template.yaml"),
            catalog: root.join("events/local/catalog.json"),
            mappings: root.join("events/local/mappings.json"),
            parameter_overrides: HashMap::new(),
            logiwa_topics: LOGIWA_TOPICS.to_vec(),
            extra_env: BTreeMap::new(),
            logiwa_webhook_jitter: Duration::ZERO,
            logiwa_webhook_duplicate_share: 0.0,
            chaos_seed: 0,
            salesforce_api_limit: None,
            moto_sqs_endpoint: None,
        }
    }
}

/// A FulfillmentOrder the harness created.
#[derive(Debug, Clone)]
pub struct CreatedOrder {
    /// Record id.
    pub id: String,
    /// `FulfillmentOrderNumber` (the WMS order code).
    pub number: String,
    /// `(Salesforce SKU, quantity)`.
    pub lines: Vec<(String, u32)>,
}

/// A webhook answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// Status.
    pub status: u16,
    /// JSON body (Null when not JSON).
    pub body: Value,
}

/// A running local stack.
pub struct Stack {
    /// Environment name (also the stack name).
    pub environment: String,
    sdk: SdkConfig,
    aws: Aws,
    salesforce: RunningSim<SalesforceState>,
    logiwa: RunningSim<LogiwaState>,
    front_addr: SocketAddr,
    front_stop: Option<oneshot::Sender<()>>,
    front_task: Option<AbortOnDrop>,
    provisioned: Provisioned,
    functions: Vec<Arc<LocalFunction>>,
    esms: Vec<EventSourceMapping>,
    scheduler: Option<AbortOnDrop>,
    signing_key: String,
    logiwa_token: String,
    /// Catalogue the simulators were seeded with.
    pub catalog: Catalog,
    /// Salesforce reference records.
    pub sf_refs: SalesforceRefs,
    sf_rest: SalesforceRest,
    lw_rest: LogiwaRest,
    http: reqwest::Client,
    /// Schedule firings.
    pub schedule_firings: Arc<AtomicU64>,
    /// Parameters the stack resolved the template with.
    pub parameters: BTreeMap<String, String>,
    /// Local-only settings every function gets on top of its template environment.
    extra_env: BTreeMap<String, String>,
    /// moto's endpoint (every AWS service).
    moto_endpoint: String,
    /// AWS requests sent since the stack was up (setup excluded).
    pub aws_counts: Arc<crate::counting::AwsCounts>,
    /// Requests the HTTP front (API Gateway) answered since the stack was up.
    pub api_requests: Arc<AtomicU64>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("environment", &self.environment)
            .field("front", &self.front_addr)
            .finish_non_exhaustive()
    }
}

/// What Lambda sets in every execution environment (besides `AWS_LAMBDA_RUNTIME_API`), with moto's
/// `test` credentials standing in for the role's.
pub fn lambda_env(name: &str, memory_mb: u32) -> BTreeMap<String, String> {
    BTreeMap::from(
        [
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]bench".to_owned()),
            ("AWS_REGION", crate::template::REGION.to_owned()),
            ("AWS_DEFAULT_REGION", crate::template::REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_SESSION_TOKEN", "test".to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
            ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
            ("TZ", ":UTC".to_owned()),
            // The template's LoggingConfig (JSON, INFO), which Lambda passes on as these two.
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    )
}

fn random_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Stack {
    /// Starts everything: simulators, provisioning (as the template declares), seeding, the functions,
    /// the HTTP front, the event source mappings and (optionally) the schedule.
    ///
    /// # Errors
    /// Anything that fails on the way, with context.
    pub async fn start(opts: StackOptions) -> anyhow::Result<Self> {
        let environment = opts
            .environment
            .clone()
            .unwrap_or_else(|| format!("l{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
        let endpoint = match &opts.moto_endpoint {
            Some(e) => e.clone(),
            None => waybill::testing::Moto::shared().await?.endpoint().to_owned(),
        };
        let moto_endpoint = endpoint.clone();
        let sdk = waybill::testing::sdk_config_for(&endpoint).await;
        // Every client counts what it sends (`make cost`).
        let aws_counts = Arc::new(crate::counting::AwsCounts::default());
        let counter = crate::counting::Counter(aws_counts.clone());
        let sqs_sdk = match &opts.moto_sqs_endpoint {
            Some(sqs_endpoint) => waybill::testing::sdk_config_for(sqs_endpoint).await,
            None => sdk.clone(),
        };
        let aws = Aws {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .interceptor(counter.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sqs_sdk)
                    .interceptor(counter.clone())
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&sdk)
                    .interceptor(counter)
                    .build(),
            ),
        };
        let catalog = Catalog::load(&opts.catalog)?;
        let http = waybill_simulators::http_client();

        let mut sf_conf = SalesforceConfig {
            port: opts.salesforce_port,
            ..SalesforceConfig::default()
        };
        if let Some(limit) = opts.salesforce_api_limit {
            sf_conf.api_limit = limit;
        }
        let (sf_client_id, sf_client_secret) = (sf_conf.client_id.clone(), sf_conf.client_secret.clone());
        let salesforce = SalesforceSim::start(sf_conf)
            .await
            .context("starting the Salesforce simulator")?;
        let lw_conf = LogiwaConfig {
            port: opts.logiwa_port,
            webhook_jitter: opts.logiwa_webhook_jitter,
            webhook_duplicate_share: opts.logiwa_webhook_duplicate_share,
            chaos_seed: opts.chaos_seed,
            ..LogiwaConfig::default()
        };
        let (lw_email, lw_password) = (lw_conf.email.clone(), lw_conf.password.clone());
        let logiwa = LogiwaSim::start(lw_conf)
            .await
            .context("starting the Logiwa simulator")?;

        // Bind the front first: its port goes into the Logiwa webhook subscription.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.front_port))
            .await
            .with_context(|| format!("binding the HTTP front on port {}", opts.front_port))?;
        let front_addr = listener.local_addr()?;

        // Secrets, passed to the template by ARN as in a deployment.
        let signing_key = random_secret();
        let logiwa_token = random_secret();
        let secrets = [
            ("SalesforceSecretArn", "salesforce", json!({"login_url": salesforce.base_url(), "client_id": sf_client_id, "client_secret": sf_client_secret}).to_string()),
            ("LogiwaSecretArn", "logiwa", json!({"base_url": logiwa.base_url(), "email": lw_email, "password": lw_password, "client_identifier": catalog.client_id()}).to_string()),
            ("WebhookSigningSecretArn", "webhook-signing-key", signing_key.clone()),
            ("LogiwaWebhookTokenSecretArn", "logiwa-webhook-token", logiwa_token.clone()),
        ];
        let mut overrides = HashMap::from([
            ("Environment".to_owned(), environment.clone()),
            // Local callers come from loopback, not Logiwa's published IPs.
            ("LogiwaAllowedIps".to_owned(), "127.0.0.1,::1".to_owned()),
            ("LogiwaWarehouses".to_owned(), catalog.warehouse_id()),
        ]);
        for (param, name, value) in &secrets {
            let arn = provision::create_secret(&aws.secrets, &format!("waybill/{environment}/{name}"), value).await?;
            overrides.insert((*param).to_owned(), arn);
        }
        if let Some(m) = opts.max_receive_count_override {
            overrides.insert("MaxReceiveCount".into(), m.to_string());
        }
        overrides.extend(opts.parameter_overrides.clone());

        let template = Template::load(&opts.template)?;
        let mut resolver = template.resolver(&environment, &overrides)?;
        let parameters = template
            .parameters
            .keys()
            .filter_map(|k| resolver.param(k).map(|v| (k.clone(), v.to_owned())))
            .collect();
        let provisioned = provision::provision(&template, &mut resolver, &aws.sqs, &aws.dynamodb).await?;
        let [table] = provisioned.tables.as_slice() else {
            bail!("expected exactly one DynamoDB table in the template")
        };
        // The fixture holds the Logiwa simulator's codes.
        provision::seed_mappings(
            &aws.dynamodb,
            &table.name,
            waybill::adapters::logiwa::WMS,
            &opts.mappings,
        )
        .await?;

        let mut extra_env = BTreeMap::from([(
            "LOGIWA_REQUESTS_PER_SECOND".to_owned(),
            opts.logiwa_requests_per_second.to_string(),
        )]);
        extra_env.extend(opts.extra_env.clone());
        let functions: Vec<Arc<LocalFunction>> = template
            .functions(&resolver)?
            .into_iter()
            .map(|spec| LocalFunction::build(spec, &extra_env, &aws).map(Arc::new))
            .collect::<anyhow::Result<_>>()?;

        // Vendor seeding: Salesforce through its REST API, Logiwa through the simulator's admin API.
        let sf_rest = SalesforceRest::login(
            &salesforce.base_url(),
            &salesforce.state().config().client_id,
            &salesforce.state().config().client_secret,
        )
        .await?;
        let sf_refs = vendors::seed_salesforce(&sf_rest, &catalog).await?;
        vendors::seed_logiwa(&http, &logiwa.base_url(), &catalog).await?;
        let lw_rest = LogiwaRest::login(&logiwa.base_url(), &lw_email, &lw_password).await?;

        let mut routes = Vec::new();
        for f in &functions {
            for ev in &f.spec.http_events {
                routes.push(Route {
                    method: ev.method.clone(),
                    path: ev.path.clone(),
                    function: f.clone(),
                });
            }
        }
        let wms_path = functions
            .iter()
            .find(|f| f.spec.package == "wms-webhook")
            .and_then(|f| f.spec.http_events.first())
            .map(|e| e.path.clone())
            .context("the template declares no HTTP route for wms-webhook")?;
        // The route is `/webhooks/wms/{system}`; the Logiwa simulator subscribes to its own system's path.
        let wms_path = wms_path.replace("{system}", "logiwa");
        let address = format!("http://127.0.0.1:{}{wms_path}?token={logiwa_token}", front_addr.port());
        for topic in &opts.logiwa_topics {
            lw_rest.subscribe(topic, &address, &catalog.client_id()).await?;
        }

        let (front_stop, rx) = oneshot::channel::<()>();
        let api_requests = Arc::new(AtomicU64::new(0));
        let app = front::router(routes, &format!("{environment}api"), api_requests.clone());
        let front_task = tokio::spawn(async move {
            let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                warn!(error.message = %e, "HTTP front stopped with an error");
            }
        });

        let mut esms = Vec::new();
        if opts.start_pollers {
            for f in &functions {
                for ev in &f.spec.sqs_events {
                    let q = provisioned.queue(&ev.queue)?;
                    esms.push(EventSourceMapping::start(
                        ev.clone(),
                        q.url.clone(),
                        aws.sqs.clone(),
                        f.clone(),
                        opts.visibility_timeout_override,
                    ));
                }
            }
        }
        let schedule_firings = Arc::new(AtomicU64::new(0));
        let scheduler = opts.schedule_every.map(|every| {
            AbortOnDrop({
                let scheduled: Vec<Arc<LocalFunction>> = functions
                    .iter()
                    .filter(|f| !f.spec.schedules.is_empty())
                    .cloned()
                    .collect();
                let firings = schedule_firings.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        for f in &scheduled {
                            firings.fetch_add(1, Ordering::Relaxed);
                            match f.invoke(schedule_event(f)).await {
                                Ok(_) => info!(function = %f.spec.name, "scheduled run finished"),
                                Err(e) => warn!(function = %f.spec.name, error.message = %e, "scheduled run failed"),
                            }
                        }
                    }
                })
            })
        });
        info!(environment = %environment, front = %front_addr, "local stack up");
        aws_counts.reset();
        api_requests.store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            environment,
            sdk,
            aws,
            salesforce,
            logiwa,
            front_addr,
            front_stop: Some(front_stop),
            front_task: Some(AbortOnDrop(front_task)),
            provisioned,
            functions,
            esms,
            scheduler,
            signing_key,
            logiwa_token,
            catalog,
            sf_refs,
            sf_rest,
            lw_rest,
            http,
            schedule_firings,
            parameters,
            extra_env,
            moto_endpoint,
            aws_counts,
            api_requests,
        })
    }

    /// The environment a release bootstrap of `package` runs with against this stack: its template
    /// variables, the local settings, and what Lambda itself sets (function name, memory, region, role
    /// credentials), with moto as the AWS endpoint. `make bench-init` starts bootstraps with it.
    ///
    /// # Errors
    /// No function of that package in the template.
    pub fn bootstrap_env(&self, package: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let f = crate::functions::by_package(&self.functions, package)?;
        let mut env: BTreeMap<String, String> = f.spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.extend(self.extra_env.clone());
        env.extend(lambda_env(&f.spec.name, f.spec.memory_mb));
        env.insert("AWS_ENDPOINT_URL".into(), self.moto_endpoint.clone());
        Ok(env)
    }

    /// moto's endpoint (the functions' `AWS_ENDPOINT_URL`).
    pub fn moto_endpoint(&self) -> &str {
        &self.moto_endpoint
    }

    /// `http://127.0.0.1:<port>` of the HTTP front.
    pub fn front_url(&self) -> String {
        format!("http://{}", self.front_addr)
    }

    /// The Salesforce simulator.
    pub fn salesforce(&self) -> &RunningSim<SalesforceState> {
        &self.salesforce
    }

    /// The Logiwa simulator.
    pub fn logiwa(&self) -> &RunningSim<LogiwaState> {
        &self.logiwa
    }

    /// SDK configuration pointing at moto.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// AWS clients on moto.
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// What was provisioned.
    pub fn provisioned(&self) -> &Provisioned {
        &self.provisioned
    }

    /// A queue URL by logical id (`OrdersQueue`, `OrdersDLQ`, …).
    ///
    /// # Errors
    /// Unknown logical id.
    pub fn queue_url(&self, logical_id: &str) -> anyhow::Result<String> {
        Ok(self.provisioned.queue(logical_id)?.url.clone())
    }

    /// The functions.
    pub fn functions(&self) -> &[Arc<LocalFunction>] {
        &self.functions
    }

    /// The event source mappings.
    pub fn event_source_mappings(&self) -> &[EventSourceMapping] {
        &self.esms
    }

    /// This run's webhook signing key.
    pub fn signing_key(&self) -> &str {
        &self.signing_key
    }

    /// This run's Logiwa webhook token.
    pub fn logiwa_token(&self) -> &str {
        &self.logiwa_token
    }

    /// Vendor-native Salesforce client (its calls are logged as the harness's).
    pub fn sf_rest(&self) -> &SalesforceRest {
        &self.sf_rest
    }

    /// Vendor-native Logiwa client (its calls are logged as the harness's).
    pub fn lw_rest(&self) -> &LogiwaRest {
        &self.lw_rest
    }

    /// A plain HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Creates a FulfillmentOrder (`Allocated`, shipped from the seeded location with the seeded delivery
    /// method) with the given `(sku, quantity)` lines, through Salesforce's REST API.
    ///
    /// # Errors
    /// When Salesforce refuses a create, or a SKU is not in the catalogue.
    pub async fn create_fulfillment_order(&self, lines: &[(&str, u32)], ship_to: &str) -> anyhow::Result<CreatedOrder> {
        let r = &self.sf_refs;
        let fo = json!({
            "Status": "Allocated", "OrderSummaryId": r.order_summary, "AccountId": r.account,
            "DeliveryMethodId": r.delivery_method, "FulfilledFromLocationId": r.location,
            "FulfilledToName": ship_to, "FulfilledToStreet": "1 Main St", "FulfilledToCity": "Springfield",
            "FulfilledToState": "IL", "FulfilledToPostalCode": "62701", "FulfilledToCountry": "US",
            "FulfilledToPhone": "555-0100", "FulfilledToEmailAddress": "buyer@example.com",
            "Type": "Warehouse", "CurrencyIsoCode": self.catalog.salesforce.currency,
        });
        let id = self.sf_rest.create("FulfillmentOrder", &fo).await?;
        for (sku, qty) in lines {
            let (_, product, price) = r
                .products
                .iter()
                .find(|(s, _, _)| s == sku)
                .with_context(|| format!("SKU {sku} is not in the catalogue"))?;
            let line = json!({
                "FulfillmentOrderId": id, "Product2Id": product, "Quantity": qty, "OriginalQuantity": qty,
                "UnitPrice": price, "TotalLineAmount": price * f64::from(*qty), "TotalTaxAmount": 0.0,
                "Type": "Order Product", "TypeCode": "Product", "Description": sku, "QuantityUnitOfMeasure": "Each",
            });
            self.sf_rest.create("FulfillmentOrderLineItem", &line).await?;
        }
        let rec = self.sf_rest.get("FulfillmentOrder", &id).await?;
        let number = rec
            .get("FulfillmentOrderNumber")
            .and_then(Value::as_str)
            .context("no FulfillmentOrderNumber")?
            .to_owned();
        Ok(CreatedOrder {
            id,
            number,
            lines: lines.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect(),
        })
    }

    /// Path of a function's first HTTP route.
    ///
    /// # Errors
    /// When the function has no route.
    pub fn route_path(&self, package: &str) -> anyhow::Result<String> {
        let f = by_package(&self.functions, package)?;
        f.spec
            .http_events
            .first()
            .map(|e| e.path.clone())
            .with_context(|| format!("{package} has no HTTP route"))
    }

    /// POSTs `body` to the Salesforce webhook route, signed with this run's key at `timestamp`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn post_signed(&self, body: &[u8], timestamp: i64, key: &str) -> anyhow::Result<HttpAnswer> {
        let sig = waybill::webhook_auth::sign(key.as_bytes(), timestamp, body);
        let url = format!("{}{}", self.front_url(), self.route_path("salesforce-webhook")?);
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(waybill::webhook_auth::TIMESTAMP_HEADER, timestamp.to_string())
            .header(waybill::webhook_auth::SIGNATURE_HEADER, sig)
            .body(body.to_vec())
            .send()
            .await?;
        answer(resp).await
    }

    /// Sends the signed Salesforce callout `{"eventId","object":"FulfillmentOrder","recordId"}`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn send_salesforce_webhook(&self, record_id: &str, event_id: &str) -> anyhow::Result<HttpAnswer> {
        let body = json!({"eventId": event_id, "object": "FulfillmentOrder", "recordId": record_id}).to_string();
        self.post_signed(
            body.as_bytes(),
            OffsetDateTime::now_utc().unix_timestamp(),
            &self.signing_key,
        )
        .await
    }

    /// Fires a scheduled function now with an EventBridge Scheduler-like event.
    ///
    /// # Errors
    /// When the function fails.
    pub async fn fire_schedule(&self, package: &str) -> anyhow::Result<Value> {
        let f = by_package(&self.functions, package)?;
        self.schedule_firings.fetch_add(1, Ordering::Relaxed);
        f.invoke(schedule_event(f))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.spec.name))
    }

    /// `(logical id, messages not yet deleted)` of every queue: visible plus in flight, so a batch still
    /// running or a failed record waiting out its visibility is not counted as settled.
    ///
    /// # Errors
    /// When SQS refuses.
    pub async fn queue_depths(&self) -> anyhow::Result<Vec<(String, u64)>> {
        Ok(self
            .queue_counts()
            .await?
            .into_iter()
            .map(|(id, (visible, in_flight))| (id, visible + in_flight))
            .collect())
    }

    /// Per queue (logical id): (visible, in flight) messages.
    ///
    /// # Errors
    /// When SQS refuses a call.
    pub async fn queue_counts(&self) -> anyhow::Result<Vec<(String, (u64, u64))>> {
        let mut out = Vec::new();
        for (id, q) in &self.provisioned.queues {
            out.push((id.clone(), queue_counts(&self.aws.sqs, &q.url).await?));
        }
        Ok(out)
    }

    /// Stops the pollers, scheduler, front and simulators.
    pub async fn shutdown(mut self) {
        for e in &self.esms {
            e.stop();
        }
        drop(self.scheduler.take());
        if let Some(tx) = self.front_stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut t) = self.front_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut t.0).await;
        }
        self.salesforce.shutdown().await;
        self.logiwa.shutdown().await;
        info!(environment = %self.environment, "local stack stopped");
    }
}

/// Aborts its task when dropped, so a dropped `Stack` (a failed test) leaves nothing running.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn answer(resp: reqwest::Response) -> anyhow::Result<HttpAnswer> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    Ok(HttpAnswer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// The event EventBridge Scheduler hands the function: the schedule's `Input` when the template sets one,
/// else its default notification.
pub fn schedule_event(f: &LocalFunction) -> Value {
    if let Some(input) = f.spec.schedules.first().and_then(|s| s.input.as_deref()) {
        return serde_json::from_str(input).unwrap_or_else(|_| Value::String(input.to_owned()));
    }
    let name = f.spec.schedules.first().map(|s| s.name.clone()).unwrap_or_default();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": ACCOUNT_ID,
        "time": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "region": REGION,
        "resources": [format!("arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{}-{name}", f.spec.name)],
        "detail": {},
    })
}

/// Polls `check` every `every` until it yields `Some`, or fails after `timeout` naming `what`.
///
/// # Errors
/// Timeout, or the first error `check` returns.
pub async fn wait_until<T, F, Fut>(timeout: Duration, every: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(every).await;
    }
}
