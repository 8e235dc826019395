//! Provisioner: creates in moto, with the production AWS SDK clients, exactly the queues, table and
//! secrets the template declares, then seeds the mapping tables from `events/local/mappings.json`.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_sqs::types::QueueAttributeName;
use tracing::info;
use waybill::mapping::MappingTables;

use crate::template::{QueueSpec, Resolver, ResourceAttrs, TableSpec, Template};

/// A created queue.
#[derive(Debug, Clone)]
pub struct Queue {
    /// Declaration.
    pub spec: QueueSpec,
    /// URL.
    pub url: String,
    /// ARN.
    pub arn: String,
}

/// What the provisioner created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// Queues by logical id.
    pub queues: BTreeMap<String, Queue>,
    /// Tables.
    pub tables: Vec<TableSpec>,
}

impl Provisioned {
    /// A queue by logical id.
    ///
    /// # Errors
    /// When the template declares no such queue.
    pub fn queue(&self, logical_id: &str) -> anyhow::Result<&Queue> {
        self.queues
            .get(logical_id)
            .with_context(|| format!("the template declares no queue {logical_id}"))
    }
}

/// Creates the queues (dead-letter targets first) and tables, registering each with the resolver so the
/// functions' `!Ref`/`!GetAtt` resolve to the real local URLs, names and ARNs.
///
/// # Errors
/// When the template cannot be resolved or moto refuses a call.
pub async fn provision(
    template: &Template,
    resolver: &mut Resolver,
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
) -> anyhow::Result<Provisioned> {
    let mut queues = BTreeMap::new();
    for id in template.queue_ids() {
        let spec = template.queue(&id, resolver)?;
        let q = create_queue(sqs, spec).await?;
        resolver.register(
            &id,
            ResourceAttrs {
                reference: q.url.clone(),
                attrs: HashMap::from([("Arn".into(), q.arn.clone()), ("QueueName".into(), q.spec.name.clone())]),
            },
        );
        queues.insert(id, q);
    }
    let tables = template.tables(resolver)?;
    for t in &tables {
        let arn = create_table(dynamodb, t).await?;
        resolver.register(
            &t.logical_id,
            ResourceAttrs {
                reference: t.name.clone(),
                attrs: HashMap::from([("Arn".into(), arn), ("StreamArn".into(), String::new())]),
            },
        );
    }
    Ok(Provisioned { queues, tables })
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, spec: QueueSpec) -> anyhow::Result<Queue> {
    let mut req = sqs.create_queue().queue_name(&spec.name);
    if let Some(v) = spec.visibility_timeout {
        req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
    }
    if let Some(v) = spec.message_retention_period {
        req = req.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
    }
    if let Some(v) = spec.sse_enabled {
        req = req.attributes(QueueAttributeName::SqsManagedSseEnabled, v.to_string());
    }
    if let Some(r) = &spec.redrive {
        let policy = serde_json::json!({"deadLetterTargetArn": r.dead_letter_target_arn, "maxReceiveCount": r.max_receive_count});
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    if let Some(p) = &spec.redrive_allow_policy {
        req = req.attributes(QueueAttributeName::RedriveAllowPolicy, p.to_string());
    }
    let url = req
        .send()
        .await
        .with_context(|| format!("creating queue {} ({})", spec.name, spec.logical_id))?
        .queue_url
        .context("moto returned no queue URL")?;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("reading the ARN of {}", spec.name))?;
    let arn = attrs
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("moto returned no queue ARN")?;
    info!(queue = %spec.logical_id, name = %spec.name, "queue created");
    Ok(Queue { spec, url, arn })
}

async fn create_table(client: &aws_sdk_dynamodb::Client, t: &TableSpec) -> anyhow::Result<String> {
    let mut req = client
        .create_table()
        .table_name(&t.name)
        .billing_mode(BillingMode::from(t.billing_mode.as_str()));
    for (name, ty) in &t.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()?,
        );
    }
    for (name, ty) in &t.key_schema {
        req = req.key_schema(
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(ty.as_str()))
                .build()?,
        );
    }
    // Every stack provisions into a moto of its own or under an environment name of its own, so
    // "already exists" is this call's own first attempt, retried by the SDK after its answer was lost
    // (see `waybill::testing::enable_ttl`).
    let arn = match req.send().await {
        Ok(out) => out.table_description.and_then(|d| d.table_arn),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => client
            .describe_table()
            .table_name(&t.name)
            .send()
            .await
            .with_context(|| format!("describing table {} ({})", t.name, t.logical_id))?
            .table
            .and_then(|d| d.table_arn),
        Err(e) => return Err(e).with_context(|| format!("creating table {} ({})", t.name, t.logical_id)),
    };
    if let Some(attr) = &t.ttl_attribute {
        waybill::testing::enable_ttl(client, &t.name, attr).await?;
    }
    info!(table = %t.logical_id, name = %t.name, "table created");
    Ok(arn.unwrap_or_default())
}

/// Creates a string secret and returns its ARN.
///
/// # Errors
/// When moto refuses the call.
pub async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> anyhow::Result<String> {
    let out = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .with_context(|| format!("creating secret {name}"))?;
    out.arn.context("moto returned no secret ARN")
}

/// Loads one WMS's mapping tables from a JSON fixture and writes them to the state table.
///
/// # Errors
/// When the file is unreadable or invalid, or DynamoDB refuses the writes.
pub async fn seed_mappings(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    system: waybill::ports::WmsSystem,
    path: &std::path::Path,
) -> anyhow::Result<MappingTables> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let tables: MappingTables =
        serde_json::from_str(&text).with_context(|| format!("{} is not a mapping-tables file", path.display()))?;
    waybill::adapters::dynamodb::put_mapping_tables(client, table, system, &tables)
        .await
        .map_err(|e| anyhow::anyhow!("seeding mapping tables: {e}"))?;
    Ok(tables)
}
