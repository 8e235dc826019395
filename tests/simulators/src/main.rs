//! Command-line entry point: runs both simulators on fixed ports until Ctrl-C.

use clap::Parser;
use std::time::Duration;
use waybill_simulators::logiwa::{LogiwaConfig, LogiwaSeed, LogiwaSim, RateTier};
use waybill_simulators::salesforce::{self, SalesforceConfig, SalesforceSim};

/// Salesforce and Logiwa IO sandbox simulators for waybill.
#[derive(Debug, Parser)]
#[command(name = "waybill-simulators", version)]
struct Args {
    #[arg(long, env = "SIM_SALESFORCE_PORT", default_value_t = 8081)]
    salesforce_port: u16,
    #[arg(long, env = "SIM_LOGIWA_PORT", default_value_t = 8082)]
    logiwa_port: u16,
    #[arg(long, env = "SIM_SF_CLIENT_ID", default_value = "waybill-sim-client")]
    sf_client_id: String,
    #[arg(long, env = "SIM_SF_CLIENT_SECRET", default_value = "waybill-sim-secret")]
    sf_client_secret: String,
    #[arg(long, env = "SIM_SF_API_LIMIT", default_value_t = 15_000)]
    sf_api_limit: u64,
    /// Salesforce session idle timeout in seconds.
    #[arg(long, env = "SIM_SF_TOKEN_LIFETIME_SECS", default_value_t = 7200)]
    sf_token_lifetime_secs: u64,
    /// Answer upsert-updates with 204 instead of 200 + body.
    #[arg(long, env = "SIM_SF_UPSERT_UPDATE_204")]
    sf_upsert_update_204: bool,
    #[arg(long, env = "SIM_LOGIWA_EMAIL", default_value = "sim@waybill.test")]
    logiwa_email: String,
    #[arg(long, env = "SIM_LOGIWA_PASSWORD", default_value = "sim-password")]
    logiwa_password: String,
    #[arg(long, env = "SIM_LOGIWA_TOKEN_LIFETIME_SECS", default_value_t = 3600)]
    logiwa_token_lifetime_secs: u64,
    /// `none`, `basic` (2 req/s) or `premium` (6 req/s).
    #[arg(long, env = "SIM_LOGIWA_RATE_LIMIT", default_value = "none")]
    logiwa_rate_limit: String,
    /// Record Logiwa webhooks without POSTing them.
    #[arg(long, env = "SIM_NO_WEBHOOKS")]
    no_webhooks: bool,
    /// Load a small demo catalogue into both simulators.
    #[arg(long, env = "SIM_DEMO_SEED")]
    demo_seed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let rate_tier = match args.logiwa_rate_limit.to_ascii_lowercase().as_str() {
        "none" | "off" | "" => None,
        "basic" => Some(RateTier::Basic),
        "premium" => Some(RateTier::Premium),
        other => anyhow::bail!("unknown --logiwa-rate-limit {other} (none|basic|premium)"),
    };
    let sf = SalesforceSim::start(SalesforceConfig {
        port: args.salesforce_port,
        client_id: args.sf_client_id,
        client_secret: args.sf_client_secret,
        api_limit: args.sf_api_limit,
        token_lifetime: Duration::from_secs(args.sf_token_lifetime_secs),
        upsert_update_returns_204: args.sf_upsert_update_204,
        seed: if args.demo_seed {
            salesforce::demo_seed()
        } else {
            Vec::new()
        },
        ..SalesforceConfig::default()
    })
    .await?;
    let lw = LogiwaSim::start(LogiwaConfig {
        port: args.logiwa_port,
        email: args.logiwa_email,
        password: args.logiwa_password,
        token_lifetime: Duration::from_secs(args.logiwa_token_lifetime_secs),
        webhook_delivery: !args.no_webhooks,
        rate_tier,
        seed: if args.demo_seed {
            LogiwaSeed::demo()
        } else {
            LogiwaSeed::default()
        },
        ..LogiwaConfig::default()
    })
    .await?;
    println!("salesforce: {}", sf.base_url());
    println!("logiwa:     {}", lw.base_url());
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down");
    sf.shutdown().await;
    lw.shutdown().await;
    Ok(())
}
