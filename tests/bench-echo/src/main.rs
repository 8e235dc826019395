//! A bare `lambda_runtime` function that answers with its event: what a Rust Lambda costs to start when it
//! does nothing else, the baseline `make bench-init` divides by.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
