//! Driven adapters: AWS (DynamoDB, SQS, Secrets Manager), Salesforce REST, the WMS connectors, and the
//! one TLS stack they share.

pub mod aws;
pub mod dynamodb;
pub mod http_client;
pub mod logiwa;
pub mod salesforce;
pub mod secrets;
#[cfg(feature = "sqs")]
pub mod sqs;
pub mod tls;

/// Every system's inbound parser, keyed by system name: the one list an adapter adds itself to.
pub fn inbound_parsers() -> crate::registry::Registry<dyn crate::ports::InboundParser> {
    let logiwa: std::sync::Arc<dyn crate::ports::InboundParser> = std::sync::Arc::new(logiwa::webhook::LogiwaInbound);
    crate::registry::Registry::new().with(logiwa)
}

/// The parser of the order source's inbound forms (Salesforce Order Management's Flow callouts and
/// forwarded platform events): the one place a Salesforce shape adds its own.
pub fn order_source_parser() -> std::sync::Arc<dyn crate::ports::OrderSourceParser> {
    std::sync::Arc::new(salesforce::inbound::FlowCallout)
}
