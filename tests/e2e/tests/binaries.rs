//! The four functions' own executables, their thin `main.rs` (telemetry, typed config, clients, the
//! runtime loop on its tokio runtime), started under a Lambda runtime-API emulator against the local
//! stack: every other test calls the handlers as library functions and never runs a `main`.

use std::path::PathBuf;

use waybill_e2e::bench_init::{self, BenchOptions, Bootstraps};

use crate::support;

/// `target/<profile>/`, where cargo put this test binary's sibling executables.
fn cargo_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/e2e-<hash> → target/<profile>
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_functions_own_binary_starts_under_the_runtime_api_and_answers_a_realistic_event_with_a_success() {
    let stack = support::start(bench_init::stack_options(None)).await;
    let opts = BenchOptions {
        starts: 1,
        bootstraps: Bootstraps::Cargo(cargo_bin_dir()),
        echo: None,
    };
    // `run` fails on an init or invocation error, a missing answer, or an answer that is not a success
    // (a non-2xx webhook status, a failed batch record, a warehouse poll error).
    let measured = bench_init::run(&stack, &opts).await;
    stack.shutdown().await;
    let measured = measured.expect("every binary starts and answers both invocations with a success");
    let labels: Vec<&str> = measured.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "wms-webhook",
            "salesforce-webhook",
            "shipment-writeback",
            "inventory-poll"
        ]
    );
    for r in &measured.rows {
        // Through the timing proxies: the binary read its environment and reached moto and the simulators.
        assert!(
            r.first_calls > 0,
            "{} made no backend request in its first invocation",
            r.label
        );
    }
}
