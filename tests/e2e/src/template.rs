//! Reads `infra/template.yaml` (SAM) into what the local stack needs: queues, the state table, and per
//! function its name, timeout, environment and event sources, with intrinsics resolved locally.
//!
//! The template is the single source of truth: the local stack creates what it declares, so local and
//! deployed configuration cannot drift. Only `!Ref`, `!GetAtt Resource.Attr` and string-form `!Sub`
//! (plus their long forms) are resolved; anything else in a property we read is an error naming the
//! resource and property, never a silent default.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;

/// Account id moto uses by default (and that ARNs carry locally).
pub const ACCOUNT_ID: &str = "123456789012";
/// Region of the local stack.
pub const REGION: &str = "us-east-1";

/// A parsed template: parameters, the `Globals.Function` section and the resources, still unresolved.
#[derive(Debug, Clone)]
pub struct Template {
    /// Parameter name → default (None when the template gives none).
    pub parameters: BTreeMap<String, Option<String>>,
    globals_function: Yaml,
    resources: BTreeMap<String, (String, Yaml)>,
}

/// A queue as declared (properties resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// Logical id.
    pub logical_id: String,
    /// `QueueName`.
    pub name: String,
    /// `VisibilityTimeout` (seconds; SQS default 30).
    pub visibility_timeout: Option<u32>,
    /// `MessageRetentionPeriod` (seconds).
    pub message_retention_period: Option<u32>,
    /// `SqsManagedSseEnabled`.
    pub sse_enabled: Option<bool>,
    /// `RedrivePolicy`.
    pub redrive: Option<Redrive>,
    /// `RedriveAllowPolicy` as JSON.
    pub redrive_allow_policy: Option<Json>,
}

/// A redrive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// ARN of the DLQ.
    pub dead_letter_target_arn: String,
    /// Logical id of the DLQ.
    pub dead_letter_queue: String,
    /// `maxReceiveCount`.
    pub max_receive_count: u32,
}

/// The DynamoDB table as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Logical id.
    pub logical_id: String,
    /// `TableName`.
    pub name: String,
    /// `(name, HASH|RANGE)`.
    pub key_schema: Vec<(String, String)>,
    /// `(name, S|N|B)`.
    pub attributes: Vec<(String, String)>,
    /// `BillingMode`.
    pub billing_mode: String,
    /// TTL attribute when enabled.
    pub ttl_attribute: Option<String>,
}

/// An SQS event source of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsEventSpec {
    /// Event name in the template.
    pub name: String,
    /// Logical id of the queue.
    pub queue: String,
    /// Queue ARN.
    pub queue_arn: String,
    /// `BatchSize` (SQS default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub batching_window_secs: u32,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`: batches in flight at once. Lambda's default without it is
    /// "as many as the account allows"; the emulator then runs 5 pollers (Lambda starts with 5).
    pub maximum_concurrency: u32,
}

/// An HTTP API route of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEventSpec {
    /// Event name.
    pub name: String,
    /// Upper-case method (`ANY` allowed).
    pub method: String,
    /// Path, possibly with `{param}` segments.
    pub path: String,
}

/// A schedule of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Event name.
    pub name: String,
    /// `rate(...)` or `cron(...)`.
    pub expression: String,
    /// The target's `Input` (JSON text), if the template sets one; Scheduler otherwise delivers its
    /// default notification.
    pub input: Option<String>,
}

/// A function as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Logical id.
    pub logical_id: String,
    /// `FunctionName`.
    pub name: String,
    /// Package directory name from `CodeUri` (e.g. `salesforce-webhook`).
    pub package: String,
    /// `Timeout` in seconds (function, else Globals, else 3).
    pub timeout_secs: u64,
    /// `MemorySize` in MB (function, else Globals, else 128).
    pub memory_mb: u32,
    /// Environment variables (Globals merged with the function's; the function wins).
    pub env: BTreeMap<String, String>,
    /// SQS event sources.
    pub sqs_events: Vec<SqsEventSpec>,
    /// HTTP API routes.
    pub http_events: Vec<HttpEventSpec>,
    /// Schedules.
    pub schedules: Vec<ScheduleSpec>,
}

/// What a resource resolves to: `!Ref` value and `!GetAtt` attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttrs {
    /// `!Ref` value (queue URL, table name, …).
    pub reference: String,
    /// `!GetAtt` attributes (`Arn`, `QueueName`, …).
    pub attrs: HashMap<String, String>,
}

/// Resolves intrinsics against parameters, pseudo parameters and resources created so far.
#[derive(Debug, Clone)]
pub struct Resolver {
    params: HashMap<String, String>,
    stack_name: String,
    resources: HashMap<String, ResourceAttrs>,
}

impl Template {
    /// Parses template text.
    ///
    /// # Errors
    /// When the YAML does not parse or has no `Resources` mapping.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Yaml = serde_yaml::from_str(text).context("template is not valid YAML")?;
        let mut parameters = BTreeMap::new();
        if let Some(Yaml::Mapping(ps)) = doc.get("Parameters") {
            for (k, v) in ps {
                let name = k.as_str().context("parameter name is not a string")?.to_owned();
                let default = v
                    .get("Default")
                    .map(scalar_text)
                    .transpose()
                    .with_context(|| format!("parameter {name}: Default"))?;
                parameters.insert(name, default);
            }
        }
        let globals_function = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .cloned()
            .unwrap_or(Yaml::Null);
        let Some(Yaml::Mapping(rs)) = doc.get("Resources") else {
            bail!("template has no Resources mapping")
        };
        let mut resources = BTreeMap::new();
        for (k, v) in rs {
            let id = k.as_str().context("resource id is not a string")?.to_owned();
            let ty = v
                .get("Type")
                .and_then(Yaml::as_str)
                .with_context(|| format!("resource {id} has no Type"))?
                .to_owned();
            let props = v.get("Properties").cloned().unwrap_or(Yaml::Null);
            resources.insert(id, (ty, props));
        }
        Ok(Self {
            parameters,
            globals_function,
            resources,
        })
    }

    /// Reads the template from a file.
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// A resolver: parameter defaults overridden by `overrides`; every parameter must end up with a value.
    ///
    /// # Errors
    /// When an override names no parameter, or a parameter has neither default nor override.
    pub fn resolver(&self, stack_name: &str, overrides: &HashMap<String, String>) -> anyhow::Result<Resolver> {
        let mut params = HashMap::new();
        for k in overrides.keys() {
            if !self.parameters.contains_key(k) {
                bail!("parameter override {k} names no parameter of the template");
            }
        }
        for (name, default) in &self.parameters {
            match overrides.get(name).or(default.as_ref()) {
                Some(v) => {
                    params.insert(name.clone(), v.clone());
                }
                None => bail!("parameter {name} has no default and no local override"),
            }
        }
        Ok(Resolver {
            params,
            stack_name: stack_name.to_owned(),
            resources: HashMap::new(),
        })
    }

    fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a String, &'a Yaml)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, (t, _))| t == ty)
            .map(|(id, (_, p))| (id, p))
    }

    /// Logical ids of the queues, dead-letter targets first (a queue with a redrive policy needs its
    /// DLQ's ARN).
    pub fn queue_ids(&self) -> Vec<String> {
        let mut ids: Vec<(bool, String)> = self
            .of_type("AWS::SQS::Queue")
            .map(|(id, p)| (p.get("RedrivePolicy").is_some(), id.clone()))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// One queue's declaration, resolved (its DLQ must already be registered with the resolver).
    ///
    /// # Errors
    /// Unknown intrinsic or unresolvable reference, naming the resource and property.
    pub fn queue(&self, id: &str, r: &Resolver) -> anyhow::Result<QueueSpec> {
        let (_, props) = self.resources.get(id).with_context(|| format!("no resource {id}"))?;
        let prop = |name: &str| -> anyhow::Result<Option<Json>> {
            props
                .get(name)
                .map(|v| r.resolve(v, &format!("{id}.Properties.{name}")))
                .transpose()
        };
        let name = prop("QueueName")?
            .and_then(|v| json_text(&v))
            .unwrap_or_else(|| format!("{}-{id}", r.stack_name));
        let redrive = match prop("RedrivePolicy")? {
            None => None,
            Some(v) => {
                let arn = v
                    .get("deadLetterTargetArn")
                    .and_then(json_text)
                    .with_context(|| format!("{id}.Properties.RedrivePolicy.deadLetterTargetArn is missing"))?;
                let max = v
                    .get("maxReceiveCount")
                    .and_then(json_text)
                    .and_then(|s| s.parse::<u32>().ok())
                    .with_context(|| format!("{id}.Properties.RedrivePolicy.maxReceiveCount is not a number"))?;
                let dlq = r
                    .resource_with_attr("Arn", &arn)
                    .with_context(|| format!("{id}.Properties.RedrivePolicy: no queue has ARN {arn}"))?;
                Some(Redrive {
                    dead_letter_target_arn: arn,
                    dead_letter_queue: dlq,
                    max_receive_count: max,
                })
            }
        };
        let num = |v: Option<Json>, n: &str| -> anyhow::Result<Option<u32>> {
            v.map(|v| {
                json_text(&v)
                    .and_then(|s| s.parse::<u32>().ok())
                    .with_context(|| format!("{id}.Properties.{n} is not a number"))
            })
            .transpose()
        };
        Ok(QueueSpec {
            logical_id: id.to_owned(),
            name,
            visibility_timeout: num(prop("VisibilityTimeout")?, "VisibilityTimeout")?,
            message_retention_period: num(prop("MessageRetentionPeriod")?, "MessageRetentionPeriod")?,
            sse_enabled: prop("SqsManagedSseEnabled")?
                .and_then(|v| json_text(&v))
                .map(|s| s == "true"),
            redrive,
            redrive_allow_policy: prop("RedriveAllowPolicy")?,
        })
    }

    /// The DynamoDB tables.
    ///
    /// # Errors
    /// Unknown intrinsic or malformed key schema, naming the resource and property.
    pub fn tables(&self, r: &Resolver) -> anyhow::Result<Vec<TableSpec>> {
        let mut out = Vec::new();
        for (id, props) in self.of_type("AWS::DynamoDB::Table") {
            let prop = |name: &str| -> anyhow::Result<Option<Json>> {
                props
                    .get(name)
                    .map(|v| r.resolve(v, &format!("{id}.Properties.{name}")))
                    .transpose()
            };
            let pairs = |name: &str, a: &str, b: &str| -> anyhow::Result<Vec<(String, String)>> {
                let v = prop(name)?.with_context(|| format!("{id}.Properties.{name} is missing"))?;
                v.as_array()
                    .with_context(|| format!("{id}.Properties.{name} is not a list"))?
                    .iter()
                    .map(|e| {
                        e.get(a)
                            .and_then(json_text)
                            .zip(e.get(b).and_then(json_text))
                            .with_context(|| format!("{id}.Properties.{name}: entry without {a}/{b}"))
                    })
                    .collect()
            };
            let ttl = prop("TimeToLiveSpecification")?.and_then(|t| {
                let enabled = t.get("Enabled").and_then(json_text).is_some_and(|e| e == "true");
                enabled.then(|| t.get("AttributeName").and_then(json_text)).flatten()
            });
            out.push(TableSpec {
                logical_id: id.clone(),
                name: prop("TableName")?
                    .and_then(|v| json_text(&v))
                    .unwrap_or_else(|| format!("{}-{id}", r.stack_name)),
                key_schema: pairs("KeySchema", "AttributeName", "KeyType")?,
                attributes: pairs("AttributeDefinitions", "AttributeName", "AttributeType")?,
                billing_mode: prop("BillingMode")?
                    .and_then(|v| json_text(&v))
                    .unwrap_or_else(|| "PROVISIONED".into()),
                ttl_attribute: ttl,
            });
        }
        Ok(out)
    }

    /// The serverless functions, with environment and events resolved against `r` (queues and tables
    /// must be registered).
    ///
    /// # Errors
    /// Unknown intrinsic or unresolvable reference, naming the resource and property.
    pub fn functions(&self, r: &Resolver) -> anyhow::Result<Vec<FunctionSpec>> {
        let mut out = Vec::new();
        let globals = &self.globals_function;
        for (id, props) in self.of_type("AWS::Serverless::Function") {
            let at = |p: &str| format!("{id}.Properties.{p}");
            let name = match props.get("FunctionName") {
                Some(v) => json_text(&r.resolve(v, &at("FunctionName"))?).with_context(|| at("FunctionName"))?,
                None => format!("{}-{id}", r.stack_name),
            };
            let code_uri = props
                .get("CodeUri")
                .and_then(Yaml::as_str)
                .with_context(|| format!("{} is missing", at("CodeUri")))?;
            let package = code_uri
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(code_uri)
                .to_owned();
            let timeout = match props.get("Timeout").or_else(|| globals.get("Timeout")) {
                Some(v) => json_text(&r.resolve(v, &at("Timeout"))?)
                    .and_then(|s| s.parse::<u64>().ok())
                    .with_context(|| format!("{} is not a number", at("Timeout")))?,
                None => 3,
            };
            let memory_mb = match props.get("MemorySize").or_else(|| globals.get("MemorySize")) {
                Some(v) => json_text(&r.resolve(v, &at("MemorySize"))?)
                    .and_then(|s| s.parse::<u32>().ok())
                    .with_context(|| format!("{} is not a number", at("MemorySize")))?,
                None => 128,
            };
            let mut env = BTreeMap::new();
            for (src, path) in [
                (globals, "Globals.Function.Environment.Variables".to_owned()),
                (props, at("Environment.Variables")),
            ] {
                if let Some(Yaml::Mapping(vars)) = src.get("Environment").and_then(|e| e.get("Variables")) {
                    for (k, v) in vars {
                        let key = k.as_str().context("environment variable name is not a string")?;
                        let value = r.resolve(v, &format!("{path}.{key}"))?;
                        let text = json_text(&value).with_context(|| format!("{path}.{key} is not a scalar"))?;
                        env.insert(key.to_owned(), text);
                    }
                }
            }
            let mut spec = FunctionSpec {
                logical_id: id.clone(),
                name,
                package,
                timeout_secs: timeout,
                memory_mb,
                env,
                sqs_events: Vec::new(),
                http_events: Vec::new(),
                schedules: Vec::new(),
            };
            if let Some(Yaml::Mapping(events)) = props.get("Events") {
                for (k, ev) in events {
                    let ev_name = k.as_str().context("event name is not a string")?.to_owned();
                    let ty = ev.get("Type").and_then(Yaml::as_str).unwrap_or_default();
                    let ep = ev.get("Properties").cloned().unwrap_or(Yaml::Null);
                    let eat = |p: &str| format!("{id}.Properties.Events.{ev_name}.Properties.{p}");
                    let get = |p: &str| -> anyhow::Result<Option<Json>> {
                        ep.get(p).map(|v| r.resolve(v, &eat(p))).transpose()
                    };
                    let num = |p: &str, d: u32| -> anyhow::Result<u32> {
                        get(p)?.map_or(Ok(d), |v| {
                            json_text(&v)
                                .and_then(|s| s.parse().ok())
                                .with_context(|| format!("{} is not a number", eat(p)))
                        })
                    };
                    match ty {
                        "SQS" => {
                            let arn = get("Queue")?
                                .and_then(|v| json_text(&v))
                                .with_context(|| format!("{} is missing", eat("Queue")))?;
                            let queue = r
                                .resource_with_attr("Arn", &arn)
                                .with_context(|| format!("{}: no queue has ARN {arn}", eat("Queue")))?;
                            let types = get("FunctionResponseTypes")?.unwrap_or(Json::Null);
                            let scaling = get("ScalingConfig")?.unwrap_or(Json::Null);
                            let maximum_concurrency = match scaling.get("MaximumConcurrency") {
                                None | Some(Json::Null) => 5,
                                Some(v) => json_text(v).and_then(|s| s.parse().ok()).with_context(|| {
                                    format!("{}.MaximumConcurrency is not a number", eat("ScalingConfig"))
                                })?,
                            };
                            spec.sqs_events.push(SqsEventSpec {
                                name: ev_name.clone(),
                                queue,
                                queue_arn: arn,
                                batch_size: num("BatchSize", 10)?,
                                batching_window_secs: num("MaximumBatchingWindowInSeconds", 0)?,
                                report_batch_item_failures: types
                                    .as_array()
                                    .is_some_and(|a| a.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
                                maximum_concurrency,
                            });
                        }
                        "HttpApi" => {
                            let method = get("Method")?
                                .and_then(|v| json_text(&v))
                                .unwrap_or_else(|| "ANY".into());
                            let path = get("Path")?
                                .and_then(|v| json_text(&v))
                                .unwrap_or_else(|| "$default".into());
                            spec.http_events.push(HttpEventSpec {
                                name: ev_name.clone(),
                                method: method.to_uppercase(),
                                path,
                            });
                        }
                        "ScheduleV2" | "Schedule" => {
                            let key = if ty == "ScheduleV2" {
                                "ScheduleExpression"
                            } else {
                                "Schedule"
                            };
                            let expression = get(key)?
                                .and_then(|v| json_text(&v))
                                .with_context(|| format!("{} is missing", eat(key)))?;
                            let input = if ty == "ScheduleV2" {
                                get("Input")?.and_then(|v| json_text(&v))
                            } else {
                                None
                            };
                            spec.schedules.push(ScheduleSpec {
                                name: ev_name.clone(),
                                expression,
                                input,
                            });
                        }
                        other => {
                            tracing::warn!(function = %id, event = %ev_name, event_type = other, "event type not emulated locally")
                        }
                    }
                }
            }
            out.push(spec);
        }
        Ok(out)
    }
}

impl Resolver {
    /// Registers what a created resource resolves to.
    pub fn register(&mut self, logical_id: &str, attrs: ResourceAttrs) {
        self.resources.insert(logical_id.to_owned(), attrs);
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The registered resource whose attribute `attr` equals `value`.
    pub fn resource_with_attr(&self, attr: &str, value: &str) -> Option<String> {
        self.resources
            .iter()
            .find(|(_, a)| a.attrs.get(attr).is_some_and(|v| v == value))
            .map(|(id, _)| id.clone())
    }

    /// A registered resource.
    pub fn resource(&self, logical_id: &str) -> Option<&ResourceAttrs> {
        self.resources.get(logical_id)
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => REGION.to_owned(),
            "AWS::AccountId" => ACCOUNT_ID.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str, at: &str) -> anyhow::Result<String> {
        if let Some(v) = self.params.get(name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.pseudo(name) {
            return Ok(v);
        }
        self.resources
            .get(name)
            .map(|r| r.reference.clone())
            .ok_or_else(|| anyhow!("{at}: !Ref {name} names no parameter or resource the local stack created"))
    }

    fn get_att(&self, resource: &str, attr: &str, at: &str) -> anyhow::Result<String> {
        self.resources
            .get(resource)
            .ok_or_else(|| anyhow!("{at}: !GetAtt {resource}.{attr}: the local stack did not create {resource}"))?
            .attrs
            .get(attr)
            .cloned()
            .ok_or_else(|| anyhow!("{at}: !GetAtt {resource}.{attr}: attribute not known locally"))
    }

    fn sub(&self, text: &str, vars: &HashMap<String, String>, at: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` is an escaped, literal `${Literal}`.
            if let Some(lit) = after.strip_prefix('!') {
                let end = lit
                    .find('}')
                    .with_context(|| format!("{at}: unterminated ${{ in !Sub"))?;
                out.push_str("${");
                out.push_str(&lit[..=end]);
                rest = &lit[end + 1..];
                continue;
            }
            let end = after
                .find('}')
                .with_context(|| format!("{at}: unterminated ${{ in !Sub"))?;
            let var = &after[..end];
            let value = match vars.get(var) {
                Some(v) => v.clone(),
                None => match var.split_once('.') {
                    Some((res, attr)) if !var.starts_with("AWS::") => self.get_att(res, attr, at)?,
                    _ => self.reference(var, at)?,
                },
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn get_att_args(v: &Yaml, at: &str) -> anyhow::Result<(String, String)> {
        match v {
            Yaml::String(s) => s
                .split_once('.')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .with_context(|| format!("{at}: !GetAtt {s} is not Resource.Attribute")),
            Yaml::Sequence(seq) if seq.len() == 2 => match (seq[0].as_str(), seq[1].as_str()) {
                (Some(a), Some(b)) => Ok((a.to_owned(), b.to_owned())),
                _ => bail!("{at}: !GetAtt list must be two strings"),
            },
            _ => bail!("{at}: malformed !GetAtt"),
        }
    }

    fn sub_args(&self, v: &Yaml, at: &str) -> anyhow::Result<String> {
        match v {
            Yaml::String(s) => self.sub(s, &HashMap::new(), at),
            Yaml::Sequence(seq) if seq.len() == 2 => {
                let text = seq[0]
                    .as_str()
                    .with_context(|| format!("{at}: !Sub template is not a string"))?;
                let mut vars = HashMap::new();
                if let Yaml::Mapping(m) = &seq[1] {
                    for (k, val) in m {
                        let key = k.as_str().with_context(|| format!("{at}: !Sub variable name"))?;
                        let resolved = self.resolve(val, &format!("{at}.{key}"))?;
                        vars.insert(
                            key.to_owned(),
                            json_text(&resolved).with_context(|| format!("{at}.{key} is not a scalar"))?,
                        );
                    }
                }
                self.sub(text, &vars, at)
            }
            _ => bail!("{at}: malformed !Sub"),
        }
    }

    /// Resolves a YAML value (with intrinsics) into JSON. `at` names the resource and property for errors.
    ///
    /// # Errors
    /// An intrinsic other than Ref/GetAtt/Sub, or a reference that cannot be resolved.
    pub fn resolve(&self, v: &Yaml, at: &str) -> anyhow::Result<Json> {
        Ok(match v {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(seq) => Json::Array(
                seq.iter()
                    .enumerate()
                    .map(|(i, x)| self.resolve(x, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Yaml::Tagged(t) => {
                let tag = t.tag.to_string();
                let tag = tag.trim_start_matches('!');
                match tag {
                    "Ref" => {
                        let name = t.value.as_str().with_context(|| format!("{at}: !Ref needs a name"))?;
                        Json::String(self.reference(name, at)?)
                    }
                    "GetAtt" => {
                        let (res, attr) = Self::get_att_args(&t.value, at)?;
                        Json::String(self.get_att(&res, &attr, at)?)
                    }
                    "Sub" => Json::String(self.sub_args(&t.value, at)?),
                    other => {
                        bail!("{at}: intrinsic !{other} is not supported by the local stack (only !Ref, !GetAtt, !Sub)")
                    }
                }
            }
            Yaml::Mapping(m) => {
                if m.len() == 1 {
                    if let Some((Yaml::String(k), val)) = m.iter().next() {
                        match k.as_str() {
                            "Ref" => {
                                let name = val.as_str().with_context(|| format!("{at}: Ref needs a name"))?;
                                return Ok(Json::String(self.reference(name, at)?));
                            }
                            "Fn::GetAtt" => {
                                let (res, attr) = Self::get_att_args(val, at)?;
                                return Ok(Json::String(self.get_att(&res, &attr, at)?));
                            }
                            "Fn::Sub" => return Ok(Json::String(self.sub_args(val, at)?)),
                            k if k.starts_with("Fn::") => {
                                bail!("{at}: intrinsic {k} is not supported by the local stack (only Ref, Fn::GetAtt, Fn::Sub)")
                            }
                            _ => {}
                        }
                    }
                }
                let mut out = Map::new();
                for (k, val) in m {
                    let key = scalar_text(k).with_context(|| format!("{at}: non-scalar key"))?;
                    let resolved = self.resolve(val, &format!("{at}.{key}"))?;
                    out.insert(key, resolved);
                }
                Json::Object(out)
            }
        })
    }
}

fn scalar_text(v: &Yaml) -> anyhow::Result<String> {
    match v {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Null => Ok(String::new()),
        _ => bail!("not a scalar"),
    }
}

/// A JSON scalar as text (strings unquoted).
pub fn json_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
Parameters:
  Environment:
    Type: String
  MaxReceiveCount:
    Type: Number
    Default: 5
  Schedule:
    Type: String
    Default: rate(15 minutes)
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables:
        WAYBILL_ENV: !Ref Environment
        STATE_TABLE: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "app-${Environment}-state"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: pk
          AttributeType: S
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
      TimeToLiveSpecification:
        AttributeName: expiration
        Enabled: true
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "app-${Environment}-q"
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: !Ref MaxReceiveCount
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "app-${Environment}-dlq"
      RedriveAllowPolicy:
        redrivePermission: byQueue
        sourceQueueArns:
          - !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:app-${Environment}-q"
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-fn"
      CodeUri: ../functions/my-fn
      Timeout: 300
      Environment:
        Variables:
          QUEUE_URL: !Ref Queue
          MAX: !Ref MaxReceiveCount
          FIXED: "262144"
      Events:
        Api:
          Type: HttpApi
          Properties:
            Path: /hook
            Method: post
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
        Tick:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: !Ref Schedule
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/other
      Environment:
        Variables:
          BAD: !If [Cond, a, b]
"#;

    fn registered(t: &Template, overrides: &[(&str, &str)]) -> Resolver {
        let o = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut r = t.resolver("stack", &o).expect("resolver");
        for id in t.queue_ids() {
            let q = t.queue(&id, &r).expect("queue");
            let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{}", q.name);
            r.register(
                &id,
                ResourceAttrs {
                    reference: format!("http://sqs/{}", q.name),
                    attrs: HashMap::from([("Arn".into(), arn), ("QueueName".into(), q.name.clone())]),
                },
            );
        }
        r.register(
            "Table",
            ResourceAttrs {
                reference: "app-dev-state".into(),
                ..ResourceAttrs::default()
            },
        );
        r
    }

    #[test]
    fn queues_resolve_with_dead_letter_targets_first_and_overridden_parameters() {
        // Given the small template and a MaxReceiveCount override
        let t = Template::parse(SMALL).expect("parse");
        // When the queues are resolved in the reader's order
        assert_eq!(t.queue_ids(), vec!["Dlq".to_owned(), "Queue".to_owned()]);
        let r = registered(&t, &[("Environment", "dev"), ("MaxReceiveCount", "3")]);
        let q = t.queue("Queue", &r).expect("queue");
        // Then the redrive policy points at the DLQ with the override, and !Sub pseudo parameters resolve
        assert_eq!(q.name, "app-dev-q");
        assert_eq!(q.visibility_timeout, Some(180));
        let redrive = q.redrive.expect("redrive");
        assert_eq!(
            (redrive.dead_letter_queue.as_str(), redrive.max_receive_count),
            ("Dlq", 3)
        );
        let dlq = t.queue("Dlq", &r).expect("dlq");
        assert_eq!(
            dlq.redrive_allow_policy.expect("allow")["sourceQueueArns"][0],
            "arn:aws:sqs:us-east-1:123456789012:app-dev-q"
        );
    }

    #[test]
    fn a_function_gets_globals_plus_its_own_environment_and_its_events() {
        let t = Template::parse(SMALL).expect("parse");
        let r = registered(&t, &[("Environment", "dev")]);
        let err = t.functions(&r).expect_err("Other uses !If");
        // Then an unsupported intrinsic names the resource and property
        let msg = err.to_string();
        assert!(
            msg.contains("Other.Properties.Environment.Variables.BAD") && msg.contains("!If"),
            "{msg}"
        );
    }

    #[test]
    fn function_specs_carry_timeout_env_and_event_sources() {
        let text = SMALL.split("  Other:").next().expect("head");
        let t = Template::parse(text).expect("parse");
        let r = registered(&t, &[("Environment", "dev")]);
        let fns = t.functions(&r).expect("functions");
        let f = &fns[0];
        assert_eq!(
            (f.name.as_str(), f.package.as_str(), f.timeout_secs),
            ("stack-fn", "my-fn", 300)
        );
        assert_eq!(f.env["WAYBILL_ENV"], "dev");
        assert_eq!(f.env["STATE_TABLE"], "app-dev-state");
        assert_eq!(f.env["QUEUE_URL"], "http://sqs/app-dev-q");
        assert_eq!((f.env["MAX"].as_str(), f.env["FIXED"].as_str()), ("5", "262144"));
        assert_eq!(f.http_events[0].method, "POST");
        assert_eq!(f.http_events[0].path, "/hook");
        let q = &f.sqs_events[0];
        assert_eq!(
            (
                q.queue.as_str(),
                q.batch_size,
                q.batching_window_secs,
                q.report_batch_item_failures
            ),
            ("Queue", 10, 2, true)
        );
        assert_eq!(f.schedules[0].expression, "rate(15 minutes)");
    }

    #[test]
    fn a_parameter_without_default_or_override_is_an_error_naming_it() {
        let t = Template::parse(SMALL).expect("parse");
        let err = t
            .resolver("s", &HashMap::new())
            .expect_err("Environment has no default");
        assert!(err.to_string().contains("Environment"), "{err}");
    }

    #[test]
    fn the_table_is_read_with_keys_billing_and_ttl() {
        let t = Template::parse(SMALL).expect("parse");
        let r = registered(&t, &[("Environment", "dev")]);
        let tables = t.tables(&r).expect("tables");
        assert_eq!(tables[0].name, "app-dev-state");
        assert_eq!(tables[0].key_schema, vec![("pk".to_owned(), "HASH".to_owned())]);
        assert_eq!(tables[0].billing_mode, "PAY_PER_REQUEST");
        assert_eq!(tables[0].ttl_attribute.as_deref(), Some("expiration"));
    }

    #[test]
    fn the_real_template_reads_without_errors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let t = Template::load(&path).expect("template");
        assert!(t.queue_ids().len() >= 5);
    }
}
