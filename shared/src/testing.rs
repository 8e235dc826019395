//! Test support for the AWS adapters: a moto server from the project venv, SDK config for it, and unique tables, queues and secrets per test.
//!
//! moto is started from `$WAYBILL_MOTO_BIN` (default `<workspace>/tests/moto/moto_server`: the pinned moto
//! that `make venv` installs into `.venv`, launched through `tests/moto/serve.py`), never from the
//! machine's PATH, so every developer and CI run the pinned version.
//! A missing binary is an error naming both, never a silent skip.
//!
//! The server is spawned through `sh` as a watchdog: the shell starts moto in the background and then
//! blocks reading its stdin, a pipe from the test process. When the test process ends (normally, by a
//! panic, or killed), the pipe closes, `read` returns, and the shell kills moto. This works for the
//! process-wide instance held in a static, which no destructor would ever reach, and it does not tie the
//! server to the tokio runtime of whichever `#[tokio::test]` started it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_types::SdkConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

/// Environment variable naming the moto server binary.
pub const MOTO_BIN_ENV: &str = "WAYBILL_MOTO_BIN";

/// Set to `1`, the moto launcher keeps HTTP connections alive (see `Moto::start_keep_alive`).
pub const MOTO_KEEP_ALIVE_ENV: &str = "WAYBILL_MOTO_KEEP_ALIVE";

/// How long moto may take to answer after being spawned (it imports every AWS service model).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server on 127.0.0.1. Dropping it stops the server.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    child: Child,
    /// Closing this pipe is the watchdog's signal to kill moto.
    stdin: Option<ChildStdin>,
}

static SHARED: OnceCell<Moto> = OnceCell::const_new();

impl Moto {
    /// Starts a private moto server on a free port and waits until it answers HTTP.
    ///
    /// # Errors
    /// When the binary is missing (the message names `WAYBILL_MOTO_BIN` and `make venv`), cannot be
    /// spawned, or does not answer within a minute.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(false).await
    }

    /// As `start`, with HTTP keep-alive (`tests/moto/serve.py`, `patch_keep_alive`). Only for a server
    /// that every client reaches from one async runtime: a test's private server, or waybill-local's.
    ///
    /// # Errors
    /// As `start`.
    pub async fn start_keep_alive() -> anyhow::Result<Self> {
        Self::start_with(true).await
    }

    async fn start_with(keep_alive: bool) -> anyhow::Result<Self> {
        let bin = moto_bin()?;
        let mut last_err = None;
        // The free port is found by binding and releasing it, so another process can grab it in
        // between; a second port is then tried rather than failing the test run.
        for _ in 0..3 {
            match Self::spawn(&bin, keep_alive).await {
                Ok(moto) => return Ok(moto),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("moto did not start")))
    }

    /// The process-wide moto server (one per test binary), started on first use. Tests isolate
    /// themselves with uniquely named tables, queues and secrets.
    ///
    /// # Errors
    /// As `start`.
    pub async fn shared() -> anyhow::Result<&'static Moto> {
        SHARED.get_or_try_init(Self::start).await
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration pointing at this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    async fn spawn(bin: &PathBuf, keep_alive: bool) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = Command::new("sh");
        if keep_alive {
            command.env(MOTO_KEEP_ALIVE_ENV, "1");
        }
        let mut child = command
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read -r _line; kill "$pid" 2>/dev/null; wait "$pid""#)
            .arg(bin)
            .arg(port.to_string())
            // moto serves each connection on its own thread, and glibc gives every thread its own
            // malloc arena: with a hundred pooled SDK connections a long run grew moto to gigabytes.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to spawn {} through sh", bin.display()))?;
        let stdin = child.stdin.take();
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            stdin,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        loop {
            if answers_http(addr).await {
                return Ok(moto);
            }
            // Our watchdog shell only exits once moto has; moto exiting early means a bad port or install.
            if let Some(status) = moto.child.try_wait().context("failed to poll moto")? {
                bail!(
                    "moto server ({}) exited with {status} before answering on port {port}",
                    bin.display()
                );
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                bail!(
                    "moto server ({}) did not answer on port {port} within {STARTUP_TIMEOUT:?}",
                    bin.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it kills moto, waits for it, and exits.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `$WAYBILL_MOTO_BIN`, or `<workspace>/tests/moto/moto_server`; an error naming both when missing.
///
/// # Errors
/// When the file does not exist, or (for the default launcher) the venv it runs moto from does not.
pub fn moto_bin() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let bin = match std::env::var_os(MOTO_BIN_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => root.join("tests/moto/moto_server"),
    };
    // The launcher is in the repo; what it launches is only there once `make venv` has run.
    let needs = if bin == root.join("tests/moto/moto_server") {
        root.join(".venv/bin/python")
    } else {
        bin.clone()
    };
    if !bin.is_file() || !needs.is_file() {
        bail!(
            "moto server not found at {}: run `make venv` in the workspace root (it installs \
             infra/requirements.txt into .venv), or set {MOTO_BIN_ENV} to a moto_server binary",
            needs.display()
        );
    }
    Ok(bin)
}

fn workspace_root() -> PathBuf {
    // This file is compiled as part of `shared/`, whose parent is the workspace root.
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    shared.parent().map(PathBuf::from).unwrap_or(shared)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("failed to find a free port")?;
    Ok(listener.local_addr().context("failed to read the bound port")?.port())
}

/// True once something answers an HTTP request on `addr` (moto's `/moto-api/` needs no AWS signing).
async fn answers_http(addr: SocketAddr) -> bool {
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        head.starts_with(b"HTTP/").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .is_some()
}

/// SDK configuration for a local endpoint: static `test`/`test` credentials and `us-east-1`, so tests can
/// never pick up (or use) a real profile.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    crate::adapters::aws::AwsSettings {
        region: "us-east-1".into(),
        credentials: aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "waybill-tests"),
        endpoint_url: Some(endpoint.to_owned()),
    }
    .sdk_config()
    .expect("the compiled-in TLS roots always build")
}

/// A unique name: `<prefix>-<uuid>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a state table shaped like production (`pk`/`sk` strings, TTL on `expiration`, on-demand) with
/// a unique name, and returns the name.
///
/// # Errors
/// When moto refuses the calls.
pub async fn create_state_table(client: &aws_sdk_dynamodb::Client) -> anyhow::Result<String> {
    let name = unique_name("waybill-state");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build();
    let created = client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        // The name is this call's own uuid: only an earlier attempt of this very call can have made it.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(e).with_context(|| format!("failed to create table {name}")),
    }
    enable_ttl(client, &name, "expiration").await?;
    Ok(name)
}

/// Turns on TTL for `attribute` of `table`.
///
/// Why [`create_state_table`] accepts "already exists": the SDK retries a call whose answer was lost (an
/// I/O error or a 5xx after moto had done the work; a fresh CI machine's first calls to a cold moto have
/// done this), and the retry of a create is refused. For a name the caller chose uniquely, that can only
/// be its own first attempt. This call needs no such care: moto answers a repeated `UpdateTimeToLive`
/// like the first (checked; real DynamoDB would refuse it, but this runs against moto only). Nor does
/// `CreateSecret`: the SDK sends one `ClientRequestToken` for all attempts, and a repeat is answered as
/// the first.
///
/// # Errors
/// When moto refuses the call.
pub async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str, attribute: &str) -> anyhow::Result<()> {
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()?,
        )
        .send()
        .await
        .with_context(|| format!("failed to enable TTL on {table}"))?;
    Ok(())
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct TestQueue {
    /// Queue URL.
    pub url: String,
    /// Dead-letter queue URL.
    pub dlq_url: String,
    /// Dead-letter queue ARN.
    pub dlq_arn: String,
}

/// Creates a uniquely named queue with a DLQ and a redrive policy (`maxReceiveCount`).
///
/// # Errors
/// When moto refuses the calls.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    max_receive_count: u32,
) -> anyhow::Result<TestQueue> {
    let name = unique_name(prefix);
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .context("failed to create the DLQ")?;
    let dlq_url = dlq.queue_url.context("moto returned no DLQ url")?;
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("failed to read the DLQ arn")?;
    let dlq_arn = attrs
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("moto returned no DLQ arn")?;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string();
    let queue = client
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .context("failed to create the queue")?;
    let url = queue.queue_url.context("moto returned no queue url")?;
    Ok(TestQueue { url, dlq_url, dlq_arn })
}

/// Creates a uniquely named string secret and returns its name.
///
/// # Errors
/// When moto refuses the call.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    value: &str,
) -> anyhow::Result<String> {
    let name = unique_name(prefix);
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .with_context(|| format!("failed to create secret {name}"))?;
    Ok(name)
}

/// A shippable SOM order for tests and benchmarks: `FO-0000001` (record `0a3000000000001…`), ship-to
/// "Ada" in Springfield US, fulfilled from `LOC-EAST`, delivery method `Ground`, USD, with these lines.
pub fn sample_order(lines: Vec<crate::domain::OrderLine>) -> crate::domain::Order {
    use crate::domain::{
        Address, CurrencyCode, LocationCode, Order, OrderSource, SalesforceId, ServiceLevel, SourceSystem,
    };
    Order {
        source: OrderSource {
            system: SourceSystem::SalesforceOrderManagement,
            record_id: SalesforceId::parse("0a3000000000001").expect("valid sample id"),
            number: "FO-0000001".into(),
            external_ids: vec![("OrderSummaryId".into(), "1Os000000000001".into())],
        },
        status: "Allocated".into(),
        account_name: Some("Acme".into()),
        ship_to: Address {
            name: "Ada".into(),
            street: vec!["1 Main St".into()],
            city: "Springfield".into(),
            country: "US".into(),
            ..Address::default()
        },
        bill_to: None,
        service_level: ServiceLevel {
            carrier: None,
            service: None,
            method: "Ground".into(),
        },
        fulfilled_from: LocationCode::parse("LOC-EAST").expect("valid sample location"),
        currency: CurrencyCode::parse("USD").expect("valid sample currency"),
        ordered_at: time::macros::datetime!(2026-11-23 10:00 UTC),
        lines,
    }
}

/// A product line `n` (line id `0a4…n`, product `01t…1`) of `quantity` `unit` of `sku`, at 24.00 + 2.00 tax.
pub fn sample_line(n: u32, sku: &str, quantity: &str, unit: &str) -> crate::domain::OrderLine {
    use crate::domain::{LineKind, OrderLine, Quantity, SalesforceId, Sku, UnitOfMeasure};
    OrderLine {
        line_id: SalesforceId::parse(&format!("0a4{n:012}")).expect("valid sample line id"),
        kind: LineKind::Product,
        sku: Sku::parse(sku).expect("valid sample sku"),
        description: None,
        quantity: Quantity::new(
            quantity.parse().expect("decimal quantity"),
            UnitOfMeasure::parse(unit).expect("unit"),
        )
        .expect("valid sample quantity"),
        unit_price: rust_decimal::Decimal::from(24),
        unit_tax: rust_decimal::Decimal::from(2),
        product_id: Some(SalesforceId::parse("01t000000000001").expect("valid sample product")),
        order_item_summary_id: None,
    }
}

/// Mapping tables for the simulators' demo data: SKUs pass through, `Each` → Logiwa `Unit`, location `WH1`
/// → `logiwa_warehouse` (an identifier), delivery method `UPS Ground` → carrier `UPS`, service `Ground`.
pub fn demo_mapping_tables(logiwa_warehouse: &str) -> crate::mapping::MappingTables {
    use crate::mapping::{MappingTables, Target};
    let t = |v: &str, service: Option<&str>| Target {
        value: v.into(),
        factor: None,
        service: service.map(str::to_owned),
    };
    let mut m = MappingTables::default();
    m.sku.passthrough = true;
    m.unit.entries.insert("Each".into(), t("Unit", None));
    m.warehouse.entries.insert("WH1".into(), t(logiwa_warehouse, None));
    m.carrier.entries.insert("UPS Ground".into(), t("UPS", Some("Ground")));
    m
}

/// An SQS record as the Lambda event source delivers it (`eventSource: aws:sqs`), on its `receive_count`-th receive.
pub fn sqs_message(message_id: &str, body: &str, receive_count: u32) -> aws_lambda_events::sqs::SqsMessage {
    let mut m = aws_lambda_events::sqs::SqsMessage::default();
    m.message_id = Some(message_id.into());
    m.body = Some(body.into());
    m.event_source = Some("aws:sqs".into());
    m.attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

/// An SQS batch event as JSON, ready for `LambdaEvent::new`.
pub fn sqs_event(records: Vec<aws_lambda_events::sqs::SqsMessage>) -> serde_json::Value {
    let mut e = aws_lambda_events::sqs::SqsEvent::default();
    e.records = records;
    serde_json::to_value(e).unwrap_or(serde_json::Value::Null)
}
