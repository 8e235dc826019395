//! The one TLS configuration of a process: rustls with the ring provider and the Mozilla roots compiled in,
//! shared by the vendor clients and the AWS SDK (which sends through reqwest, see `aws.rs`).
//!
//! Why compiled-in roots: reading and parsing the system bundle costs milliseconds of every cold start, and
//! the AWS, Salesforce and WMS endpoints all chain to roots in the Mozilla set. A deployment behind a
//! TLS-inspecting proxy, or a local endpoint with its own CA, adds its roots with `SSL_CERT_FILE` (a PEM
//! bundle, read once; the usual OpenSSL variable, so tools and this process agree).

use std::sync::{Arc, LazyLock};

use rustls::{ClientConfig, RootCertStore};

/// The variable naming extra trusted roots (PEM).
pub const EXTRA_ROOTS: &str = "SSL_CERT_FILE";

static CONFIG: LazyLock<Result<Arc<ClientConfig>, String>> = LazyLock::new(|| build(std::env::var_os(EXTRA_ROOTS)));

/// Why the TLS configuration could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsError(pub String);

/// The process's TLS client configuration, built on first use and shared after that.
///
/// # Errors
/// `TlsError` when `SSL_CERT_FILE` names a file that cannot be read or holds no certificate.
pub fn client_config() -> Result<Arc<ClientConfig>, TlsError> {
    CONFIG.clone().map_err(TlsError)
}

fn build(extra: Option<std::ffi::OsString>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra {
        let pem = std::fs::read(&path).map_err(|e| format!("{EXTRA_ROOTS}={}: {e}", path.to_string_lossy()))?;
        let mut added = 0usize;
        for cert in rustls_pemfile_certs(&pem) {
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
        if added == 0 {
            return Err(format!(
                "{EXTRA_ROOTS}={} holds no usable certificate",
                path.to_string_lossy()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 only: every call is a small request on a pooled connection, so HTTP/2's multiplexing
    // would buy nothing here, and leaving it out keeps an HTTP/2 stack out of every bootstrap.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of a PEM bundle (other sections are skipped).
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The process's reqwest client for a connect timeout: one per distinct timeout (the AWS SDK's and the
/// vendors'), built on first use and shared by every adapter after that, so a cold start builds two
/// clients, not one per adapter, and connections to one host are pooled once. Request timeouts are set
/// per request.
///
/// # Errors
/// `TlsError` as [`client_config`], or when reqwest cannot build the client.
pub fn shared_client(connect_timeout: std::time::Duration) -> Result<reqwest::Client, TlsError> {
    static CLIENTS: LazyLock<std::sync::Mutex<Vec<(std::time::Duration, reqwest::Client)>>> =
        LazyLock::new(std::sync::Mutex::default);
    let mut clients = CLIENTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, c)) = clients.iter().find(|(t, _)| *t == connect_timeout) {
        return Ok(c.clone());
    }
    let client = reqwest_builder()?
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("waybill/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| TlsError(e.to_string()))?;
    clients.push((connect_timeout, client.clone()));
    #[cfg(test)]
    CLIENT_BUILDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(connect_timeout);
    Ok(client)
}

/// Every client build's connect timeout (tests count them).
#[cfg(test)]
static CLIENT_BUILDS: std::sync::Mutex<Vec<std::time::Duration>> = std::sync::Mutex::new(Vec::new());

/// A reqwest builder that uses the shared TLS configuration.
///
/// # Errors
/// `TlsError` as [`client_config`].
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, TlsError> {
    let config = client_config()?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured((*config).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_is_built_per_connect_timeout_and_shared_after_that() {
        let builds = |t: std::time::Duration| {
            CLIENT_BUILDS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .filter(|b| **b == t)
                .count()
        };
        let (t, other) = (
            std::time::Duration::from_millis(4321),
            std::time::Duration::from_millis(4322),
        );
        let _a = shared_client(t).expect("client");
        let _b = shared_client(t).expect("client");
        let _c = shared_client(other).expect("client");
        assert_eq!(builds(t), 1, "the second ask for the same timeout reuses the client");
        assert_eq!(builds(other), 1, "another timeout gets its own client");
    }

    #[test]
    fn the_compiled_in_roots_need_no_file() {
        let config = build(None).expect("config");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn an_unreadable_extra_bundle_is_an_error_naming_the_variable() {
        let err = build(Some("/nonexistent/bundle.pem".into())).expect_err("missing file");
        assert!(err.contains("SSL_CERT_FILE=/nonexistent/bundle.pem"), "{err}");
    }

    #[test]
    fn a_bundle_without_certificates_is_an_error() {
        let dir = std::env::temp_dir().join(format!("waybill-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("empty.pem");
        std::fs::write(&path, b"not a certificate\n").expect("write");
        let err = build(Some(path.clone().into())).expect_err("no certs");
        assert!(err.contains("holds no usable certificate"), "{err}");
        let _ = std::fs::remove_file(path);
    }
}
