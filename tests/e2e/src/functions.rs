//! The four functions in one process: each built by its own `wire::build` from the environment the
//! template gives it, and invoked like Lambda does (a `Context` with request id and deadline, the
//! function timeout enforced, a panic turned into a failed invocation).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use futures::FutureExt;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tracing::{info_span, warn, Instrument};
use waybill::config::Env;
use waybill::error::InvocationError;
use waybill::wiring::Aws;

use crate::template::{FunctionSpec, ACCOUNT_ID, REGION};

type BoxFut = Pin<Box<dyn Future<Output = Result<Value, InvocationError>> + Send>>;
type Handler = Arc<dyn Fn(LambdaEvent<Value>) -> BoxFut + Send + Sync>;

/// Why an invocation failed (what Lambda would report as a function error).
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned `Err`.
    #[error("{0}")]
    Handler(String),
    /// The handler ran past the function timeout.
    #[error("task timed out after {0:?}")]
    Timeout(Duration),
    /// The handler panicked.
    #[error("handler panicked: {0}")]
    Panicked(String),
}

/// Invocation counters of one function.
#[derive(Debug, Default)]
pub struct FunctionStats {
    /// Invocations.
    pub invocations: AtomicU64,
    /// Invocations that failed (error, timeout, panic).
    pub errors: AtomicU64,
    /// Billed duration, summed: each invocation rounded up to the millisecond, as Lambda bills.
    pub billed_ms: AtomicU64,
}

/// One function, built and ready to invoke.
pub struct LocalFunction {
    /// Its declaration.
    pub spec: FunctionSpec,
    handler: Handler,
    /// Counters.
    pub stats: Arc<FunctionStats>,
}

impl std::fmt::Debug for LocalFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFunction")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

fn boxed<A, F>(app: A, call: F) -> Handler
where
    A: Clone + Send + Sync + 'static,
    F: Fn(A, LambdaEvent<Value>) -> BoxFut + Send + Sync + 'static,
{
    Arc::new(move |ev| call(app.clone(), ev))
}

impl LocalFunction {
    /// Builds the function the spec's `CodeUri` names, with the template environment plus `extra_env`
    /// (local-only settings), exactly as its `main.rs` would at cold start.
    ///
    /// # Errors
    /// An unknown package, or the function's own `ConfigError`.
    pub fn build(spec: FunctionSpec, extra_env: &BTreeMap<String, String>, aws: &Aws) -> anyhow::Result<Self> {
        let mut vars: HashMap<String, String> = spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.extend(extra_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.insert("AWS_LAMBDA_FUNCTION_NAME".into(), spec.name.clone());
        vars.insert("AWS_REGION".into(), REGION.into());
        let env = Env::from_map(vars);
        let cfg = |e: waybill::config::ConfigError| anyhow::anyhow!("{}: {e}", spec.name);
        let handler: Handler = match spec.package.as_str() {
            "salesforce-webhook" => boxed(salesforce_webhook::wire::build(&env, aws).map_err(cfg)?, |a, ev| {
                Box::pin(async move { a.handle(ev).await })
            }),
            "wms-webhook" => boxed(wms_webhook::wire::build(&env, aws).map_err(cfg)?, |a, ev| {
                Box::pin(async move { a.handle(ev).await })
            }),
            "shipment-writeback" => boxed(shipment_writeback::wire::build(&env, aws).map_err(cfg)?, |a, ev| {
                Box::pin(async move { a.handle(ev).await })
            }),
            "inventory-poll" => boxed(inventory_poll::wire::build(&env, aws).map_err(cfg)?, |a, ev| {
                Box::pin(async move { a.handle(ev).await })
            }),
            other => bail!(
                "function {} has CodeUri package '{other}', which the local stack does not know",
                spec.name
            ),
        };
        Ok(Self {
            spec,
            handler,
            stats: Arc::new(FunctionStats::default()),
        })
    }

    /// Invokes the function with `payload`, as Lambda would: fresh request id, deadline = now + Timeout,
    /// the timeout enforced, panics caught.
    ///
    /// # Errors
    /// `InvokeError` when the invocation failed.
    pub async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        let timeout = Duration::from_secs(self.spec.timeout_secs);
        let request_id = uuid::Uuid::new_v4().to_string();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut ctx = Context::default();
        ctx.request_id.clone_from(&request_id);
        ctx.deadline = u64::try_from(now_ms + timeout.as_millis()).unwrap_or(u64::MAX);
        ctx.invoked_function_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", self.spec.name);
        let mut conf = lambda_runtime::Config::default();
        conf.function_name.clone_from(&self.spec.name);
        conf.memory = i32::try_from(self.spec.memory_mb).unwrap_or(256);
        conf.version = "$LATEST".into();
        ctx.env_config = Arc::new(conf);
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        let span = info_span!("invoke", function = %self.spec.name, request_id = %request_id);
        let fut = (self.handler)(LambdaEvent::new(payload, ctx));
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(timeout, AssertUnwindSafe(fut).catch_unwind())
            .instrument(span)
            .await;
        let billed = started.elapsed().as_micros().div_ceil(1000);
        self.stats
            .billed_ms
            .fetch_add(u64::try_from(billed).unwrap_or(u64::MAX), Ordering::Relaxed);
        let result = match outcome {
            Err(_) => Err(InvokeError::Timeout(timeout)),
            Ok(Err(p)) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                Err(InvokeError::Panicked(msg))
            }
            Ok(Ok(Err(e))) => Err(InvokeError::Handler(e.to_string())),
            Ok(Ok(Ok(v))) => Ok(v),
        };
        if let Err(e) = &result {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            warn!(function = %self.spec.name, request_id = %request_id, error.message = %e, "invocation failed");
        }
        result
    }
}

/// Looks a function up by package name (e.g. `inventory-poll`).
///
/// # Errors
/// When no function of the template has that package.
pub fn by_package<'a>(fns: &'a [Arc<LocalFunction>], package: &str) -> anyhow::Result<&'a Arc<LocalFunction>> {
    fns.iter()
        .find(|f| f.spec.package == package)
        .with_context(|| format!("the template declares no {package} function"))
}
