//! AWS SDK configuration from the Lambda environment, sent through the process's one reqwest/rustls stack.
//!
//! Why not `aws-config`: in Lambda its provider chain ends at the environment anyway (the runtime puts
//! the role's session credentials and the region there), but linking it brings SSO, SSO-OIDC and STS
//! clients, profile-file parsing, IMDS, and a second HTTP and TLS stack. Reading four variables needs
//! none of that. The SDK's own retries, signing and timeouts are unchanged: only the transport differs.
//!
//! Variables: `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN` (optional), `AWS_ENDPOINT_URL` (optional: moto locally).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::SdkConfig;

use crate::config::{ConfigError, Env};

/// How long a connection may take to open (the SDK's default for the latest behaviour version).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Where the SDK clients connect and as whom.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Region.
    pub region: String,
    /// Credentials (Lambda's role session).
    pub credentials: Credentials,
    /// An endpoint for every service (moto locally); `None` uses AWS's.
    pub endpoint_url: Option<String>,
}

impl AwsSettings {
    /// Reads the settings from the environment.
    ///
    /// # Errors
    /// `ConfigError::Missing` naming the first variable that is not set.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let region = match env.optional("AWS_REGION") {
            Some(r) => r,
            None => env.required("AWS_DEFAULT_REGION").map_err(|_| ConfigError::Missing {
                key: "AWS_REGION".into(),
            })?,
        };
        let credentials = Credentials::new(
            env.required("AWS_ACCESS_KEY_ID")?,
            env.required("AWS_SECRET_ACCESS_KEY")?,
            env.optional("AWS_SESSION_TOKEN"),
            None,
            "lambda-environment",
        );
        Ok(Self {
            region,
            credentials,
            endpoint_url: env.optional("AWS_ENDPOINT_URL"),
        })
    }

    /// The SDK configuration every client is built from.
    ///
    /// # Errors
    /// `ConfigError::Invalid` (key `SSL_CERT_FILE`) when the TLS configuration cannot be built.
    pub fn sdk_config(&self) -> Result<SdkConfig, ConfigError> {
        let http = ReqwestHttpClient::new().map_err(|e| ConfigError::Invalid {
            key: super::tls::EXTRA_ROOTS.into(),
            reason: e.to_string(),
        })?;
        let mut b = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials.clone()))
            .http_client(SharedHttpClient::new(http))
            .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
            .retry_config(RetryConfig::standard())
            .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build());
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url.clone());
        }
        Ok(b.build())
    }
}

/// The SDK's transport over reqwest: one connection pool and one TLS stack with the vendor clients.
/// Request bodies of the APIs we call (DynamoDB, SQS, Secrets Manager) are small and in memory; a
/// streaming body is refused rather than buffered.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    /// One connector per read timeout the SDK asks for (it asks with the same settings every time).
    connectors: Arc<Mutex<HashMap<Option<Duration>, SharedHttpConnector>>>,
}

impl ReqwestHttpClient {
    /// Builds the client.
    ///
    /// # Errors
    /// `TlsError` from the shared TLS configuration, or the reqwest error as a `TlsError`.
    pub fn new() -> Result<Self, super::tls::TlsError> {
        let client = super::tls::shared_client(CONNECT_TIMEOUT)?;
        Ok(Self {
            client,
            connectors: Arc::default(),
        })
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let read_timeout = settings.read_timeout();
        let mut cache = self.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(read_timeout)
            .or_insert_with(|| {
                SharedHttpConnector::new(ReqwestConnector {
                    client: self.client.clone(),
                    read_timeout,
                })
            })
            .clone()
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    client: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move { send(&client, request, read_timeout).await })
    }
}

async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
    read_timeout: Option<Duration>,
) -> Result<HttpResponse, ConnectorError> {
    let method = reqwest::Method::from_bytes(request.method().as_bytes())
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let Some(body) = request.body().bytes().map(<[u8]>::to_vec) else {
        return Err(ConnectorError::other(
            "a streaming request body cannot be sent by this transport".into(),
            None,
        ));
    };
    let mut req = client.request(method, request.uri());
    for (name, value) in request.headers() {
        req = req.header(name, value);
    }
    if let Some(t) = read_timeout {
        req = req.timeout(t);
    }
    let resp = req.body(body).send().await.map_err(classify)?;
    let status = StatusCode::try_from(resp.status().as_u16()).map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
        .collect();
    let bytes = resp.bytes().await.map_err(classify)?;
    let mut out = HttpResponse::new(status, SdkBody::from(bytes));
    for (k, v) in headers {
        out.headers_mut().append(k, v);
    }
    Ok(out)
}

/// Maps a transport failure onto the SDK's kinds, which decide its retries: timeouts and I/O are
/// transient; anything else is not retried by the SDK.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(Box::new(e))
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(Box::new(e))
    } else {
        ConnectorError::other(Box::new(e), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_lambda_environment() {
        let s = AwsSettings::from_env(&Env::from_pairs(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .expect("settings");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.credentials.access_key_id(), "AKID");
        assert_eq!(s.credentials.session_token(), Some("token"));
        assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        let conf = s.sdk_config().expect("config");
        assert_eq!(conf.region().map(Region::as_ref), Some("eu-west-1"));
        assert_eq!(conf.endpoint_url(), Some("http://127.0.0.1:5000"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_io_and_a_silent_server_a_timeout_so_the_sdk_retries_both() {
        let client = crate::adapters::tls::shared_client(CONNECT_TIMEOUT).expect("client");
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let refused = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("refused");
        assert!(classify(refused).is_io());
        // A server that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = silent.local_addr().expect("addr");
        let _hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let slow = client
            .get(format!("http://{addr}/"))
            .timeout(Duration::from_millis(200))
            .send()
            .await
            .expect_err("timeout");
        assert!(classify(slow).is_timeout());
    }

    #[test]
    fn a_missing_credential_names_its_variable() {
        let err = AwsSettings::from_env(&Env::from_pairs(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
        ]))
        .expect_err("no secret");
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    }

    #[test]
    fn a_missing_region_names_aws_region() {
        let err = AwsSettings::from_env(&Env::from_pairs(&[
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
        ]))
        .expect_err("no region");
        assert!(err.to_string().contains("AWS_REGION"), "{err}");
    }

    #[test]
    fn the_default_region_variable_is_the_fallback() {
        let s = AwsSettings::from_env(&Env::from_pairs(&[
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
        ]))
        .expect("settings");
        assert_eq!(s.region, "us-west-2");
    }
}
