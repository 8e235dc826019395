//! Lambda entry point for shipment-writeback: telemetry, typed config, clients built once, then the runtime loop.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use waybill::config::Env;
use waybill::wiring::Aws;

// One thread: at 256 MB Lambda gives about a seventh of a vCPU, so a second worker would add only its
// start and a cross-thread wake-up per answer (README, "Footprint").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    waybill::telemetry::init_lambda();
    // Fail the cold start (not each invocation) when configuration is wrong, naming the variable.
    let env = Env::process();
    let app = shipment_writeback::wire::build(&env, &Aws::from_env(&env)?)?;
    // The closure borrows the app: clients and caches live for the life of the execution environment.
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        app.handle(event).await
    }))
    .await
}
