//! Driven adapters: AWS (DynamoDB, SQS, Secrets Manager), Salesforce REST, and the WMS connectors.

pub mod dynamodb;
pub mod http_client;
pub mod logiwa;
pub mod salesforce;
pub mod secrets;
pub mod sqs;
