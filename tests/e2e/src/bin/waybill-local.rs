//! `waybill-local`: runs the end-to-end scenario on the local stack (`run`) or keeps the stack up for
//! manual use (`serve`, `run --serve`). See tests/e2e/README.md.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use waybill_e2e::moto::OwnedMoto;
use waybill_e2e::scenario::{self, ScenarioOptions};
use waybill_e2e::serve;
use waybill_e2e::stack::{Stack, StackOptions};

#[derive(Parser)]
#[command(
    name = "waybill-local",
    about = "waybill on your machine: moto + Salesforce/Logiwa simulators + the four functions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenario once, print the summary, exit 0 only when everything reconciles.
    Run(RunArgs),
    /// Keep the stack up on fixed ports for manual use.
    Serve(StackArgs),
    /// Drive the stack through a storm of faults and reconcile from the vendors' APIs; exit 0 only
    /// when nothing was lost, doubled or regressed and every poison record is parked.
    Chaos(ChaosArgs),
    /// Cold starts of the release bootstraps (`make build`) under a runtime-API emulator, next to a bare
    /// `lambda_runtime` echo: init, init + first invocation, and peak RSS.
    BenchInit(BenchArgs),
    /// Run the scenario with every AWS request counted, and price it per million orders with the table
    /// in infra/prices.json.
    Cost(CostArgs),
}

#[derive(Args)]
struct CostArgs {
    /// FulfillmentOrders to drive through.
    #[arg(long, default_value_t = 100)]
    orders: usize,
    /// Extra deliveries of each webhook (0: each once).
    #[arg(long, default_value_t = 0)]
    duplicates: usize,
    /// Orders arriving per second (their Salesforce webhooks, later their shipments), a steady stream as
    /// in production; 0 sends each phase in one burst, which prices the waits a backlog causes.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// The deployment's monthly volume, over which Lambda's idle queue polling (a fixed cost) is spread.
    #[arg(long, default_value_t = 1_000_000.0)]
    orders_per_month: f64,
    /// Price Lambda at the arm64 rate (the template deploys x86_64).
    #[arg(long)]
    arm64: bool,
    /// Also list every counted operation per order.
    #[arg(long)]
    verbose: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Starts per function.
    #[arg(long, default_value_t = 20)]
    starts: usize,
    /// Where `cargo lambda build` put the bootstraps.
    #[arg(long, default_value = "target/lambda")]
    lambda_dir: std::path::PathBuf,
}

#[derive(Args)]
struct ChaosArgs {
    /// Good orders (poison records come on top).
    #[arg(long, default_value_t = 2000)]
    orders: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Length of the mid-run WMS outage, in seconds.
    #[arg(long, default_value_t = 60)]
    outage: u64,
    /// How long to wait for everything to settle, in seconds.
    #[arg(long, default_value_t = 540)]
    settle: u64,
}

#[derive(Args)]
struct RunArgs {
    /// FulfillmentOrders to create.
    #[arg(long, default_value_t = 20)]
    orders: usize,
    /// Extra deliveries of each webhook.
    #[arg(long, default_value_t = 1)]
    duplicates: usize,
    /// Budget per waiting step, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Keep serving after the run.
    #[arg(long)]
    serve: bool,
    #[command(flatten)]
    stack: StackArgs,
}

#[derive(Args, Clone)]
struct StackArgs {
    /// HTTP front port (serve mode; `run` alone uses free ports).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Salesforce simulator port (serve mode).
    #[arg(long, default_value_t = 9001)]
    salesforce_port: u16,
    /// Logiwa simulator port (serve mode).
    #[arg(long, default_value_t = 9002)]
    logiwa_port: u16,
    /// moto port (serve mode).
    #[arg(long, default_value_t = 9003)]
    moto_port: u16,
    /// Override the template's MaxReceiveCount.
    #[arg(long)]
    max_receive_count: Option<u32>,
    /// Time compression: failed records reappear after SECS instead of the queue's VisibilityTimeout.
    #[arg(long, value_name = "SECS")]
    visibility_timeout_override: Option<u32>,
    /// Fire scheduled functions every SECS in serve mode (compressed schedule).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    schedule_every: u64,
    /// Client-side Logiwa request rate per function.
    #[arg(long, default_value_t = 10)]
    logiwa_rps: u32,
    /// Environment name (queue and table prefix).
    #[arg(long, default_value = "local")]
    environment: String,
}

fn options(a: &StackArgs, serving: bool, moto: &str) -> StackOptions {
    StackOptions {
        environment: Some(a.environment.clone()),
        moto_endpoint: Some(moto.to_owned()),
        front_port: if serving { a.port } else { 0 },
        salesforce_port: if serving { a.salesforce_port } else { 0 },
        logiwa_port: if serving { a.logiwa_port } else { 0 },
        max_receive_count_override: a.max_receive_count,
        visibility_timeout_override: a.visibility_timeout_override,
        logiwa_requests_per_second: a.logiwa_rps,
        schedule_every: serving.then(|| Duration::from_secs(a.schedule_every.max(1))),
        ..StackOptions::default()
    }
}

async fn serve_until_ctrl_c(stack: Stack, moto: &str) -> anyhow::Result<()> {
    let demo = stack
        .create_fulfillment_order(&[("TEE-BLK-M", 2), ("MUG-WHT-12", 1)], "Manual Tester")
        .await?;
    println!("{}", serve::guidance(&stack, moto, Some(&demo)));
    tokio::signal::ctrl_c().await?;
    println!("stopping…");
    stack.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // This process runs on one async runtime, so the moto servers it starts may keep connections alive
    // (tests/moto/serve.py, `patch_keep_alive`); set before any thread exists, and inherited by moto.
    std::env::set_var(waybill::testing::MOTO_KEEP_ALIVE_ENV, "1");
    // Every function, simulator and the front share this process, where Lambda gives each function its
    // own: with one worker per core (two here), a handler busy on the CPU in this debug build could hold
    // up every other task. More workers than cores let the OS share the cores between them instead.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(16)
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A chaos run fails thousands of calls on purpose: show its progress, not every failure it causes
    // (RUST_LOG still wins).
    let default_filter = match cli.command {
        Command::Chaos(_) => "off,waybill_e2e::chaos=info",
        _ => "warn,waybill_e2e=info",
    };
    waybill::telemetry::init_local(default_filter);
    match cli.command {
        Command::Run(args) => {
            // A plain run takes free ports (and its own moto) so it never clashes with a serving stack.
            let moto = if args.serve {
                Moto::Fixed(OwnedMoto::start(args.stack.moto_port).await?)
            } else {
                Moto::Free(waybill::testing::Moto::start().await?)
            };
            let stack = Stack::start(options(&args.stack, args.serve, moto.endpoint())).await?;
            let opts = ScenarioOptions {
                orders: args.orders,
                duplicates: args.duplicates,
                timeout: Duration::from_secs(args.timeout),
                pace: None,
            };
            let outcome = scenario::run(&stack, &opts).await?;
            println!("{}", scenario::summary(&stack, &outcome));
            if args.serve {
                return serve_until_ctrl_c(stack, moto.endpoint()).await;
            }
            let ok = outcome.reconciled();
            stack.shutdown().await;
            drop(moto);
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Chaos(a) => {
            let opts = waybill_e2e::chaos::ChaosOptions {
                orders: a.orders,
                seed: a.seed,
                outage: Duration::from_secs(a.outage),
                settle: Duration::from_secs(a.settle),
            };
            // Two motos (DynamoDB and Secrets Manager on one, SQS on the other): one per core.
            let moto = waybill::testing::Moto::start().await?;
            let moto_sqs = waybill::testing::Moto::start().await?;
            let mut stack_opts = waybill_e2e::chaos::stack_options(&opts);
            stack_opts.moto_endpoint = Some(moto.endpoint().to_owned());
            stack_opts.moto_sqs_endpoint = Some(moto_sqs.endpoint().to_owned());
            let stack = Stack::start(stack_opts).await?;
            let outcome = waybill_e2e::chaos::run(&stack, &opts).await?;
            stack.shutdown().await;
            drop(moto);
            drop(moto_sqs);
            println!("{}", waybill_e2e::chaos::report(&outcome));
            if !outcome.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Cost(a) => {
            let root = waybill_e2e::stack::workspace_root();
            let prices = waybill_e2e::cost::Prices::load(&root.join("infra/prices.json"))?;
            let moto = waybill::testing::Moto::start().await?;
            let stack = Stack::start(StackOptions {
                moto_endpoint: Some(moto.endpoint().to_owned()),
                // The sweeps below run right after the scenario, so no change is young enough to wait.
                extra_env: std::collections::BTreeMap::from([("ORDER_SWEEP_GRACE_SECONDS".to_owned(), "0".to_owned())]),
                ..StackOptions::default()
            })
            .await?;
            let opts = ScenarioOptions {
                orders: a.orders,
                duplicates: a.duplicates,
                timeout: Duration::from_secs(120),
                pace: (a.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / a.rate)),
            };
            let outcome = scenario::run(&stack, &opts).await?;
            if !outcome.reconciled() {
                println!("{}", scenario::summary(&stack, &outcome));
                stack.shutdown().await;
                anyhow::bail!("the run did not reconcile; its counts would not be a fair price");
            }
            // Deployed, every shipped change falls inside two sweeps' windows (5-minute schedule, 5-minute
            // overlap): two sweeps over the run's changes are what the sweep costs per order.
            for _ in 0..2 {
                stack.fire_schedule("wms-webhook").await?;
            }
            let mut bill = waybill_e2e::cost::bill(&stack, a.orders, a.orders_per_month, &prices, a.arm64);
            bill.arrival = if a.rate > 0.0 {
                format!("at {} per second", a.rate)
            } else {
                "in one burst".to_owned()
            };
            let mut out = waybill_e2e::cost::report(&bill, &prices);
            if a.verbose {
                out.push_str(&waybill_e2e::cost::operations(&stack, a.orders));
            }
            stack.shutdown().await;
            drop(moto);
            println!("{out}");
            Ok(())
        }
        Command::BenchInit(a) => {
            let moto = waybill::testing::Moto::start().await?;
            let stack = Stack::start(waybill_e2e::bench_init::stack_options(Some(moto.endpoint().to_owned()))).await?;
            let root = waybill_e2e::stack::workspace_root();
            let lambda_dir = if a.lambda_dir.is_absolute() {
                a.lambda_dir
            } else {
                root.join(a.lambda_dir)
            };
            let opts = waybill_e2e::bench_init::BenchOptions {
                starts: a.starts.max(1),
                echo: Some(lambda_dir.join("bench-echo").join("bootstrap")),
                bootstraps: waybill_e2e::bench_init::Bootstraps::CargoLambda(lambda_dir),
            };
            let measured = waybill_e2e::bench_init::run(&stack, &opts).await;
            stack.shutdown().await;
            drop(moto);
            println!("{}", measured?.report);
            Ok(())
        }
        Command::Serve(a) => {
            let moto = OwnedMoto::start(a.moto_port).await?;
            let stack = Stack::start(options(&a, true, moto.endpoint())).await?;
            serve_until_ctrl_c(stack, moto.endpoint()).await
        }
    }
}

enum Moto {
    Fixed(OwnedMoto),
    Free(waybill::testing::Moto),
}

impl Moto {
    fn endpoint(&self) -> &str {
        match self {
            Moto::Fixed(m) => m.endpoint(),
            Moto::Free(m) => m.endpoint(),
        }
    }
}
