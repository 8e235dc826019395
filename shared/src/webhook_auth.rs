//! Webhook authentication: HMAC-SHA256 signatures over timestamp + body (Salesforce Flow callouts), and
//! shared-secret tokens plus source-IP allowlists (Logiwa, which signs nothing). Constant-time compares.
//!
//! Signature scheme (documented in the README so a Salesforce admin can build it with a Named
//! Credential formula, salesforce-api.md §4 [80]):
//! - `X-Waybill-Timestamp: <unix seconds>`
//! - `X-Waybill-Signature: v1=<base64 or hex of HMAC-SHA256(key, "<timestamp>.<raw body>")>`
//!
//! The timestamp is inside the MAC and must be within the tolerance window, so a captured request
//! cannot be replayed later; the event-id dedup catches replays inside the window.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-waybill-signature";
/// Header carrying the timestamp.
pub const TIMESTAMP_HEADER: &str = "x-waybill-timestamp";

/// Why a request was not authenticated. All map to 401 (403 for the IP allowlist).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The timestamp header is not a number.
    #[error("timestamp is not unix seconds")]
    BadTimestamp,
    /// The timestamp is outside the tolerance window.
    #[error("timestamp is {skew_seconds}s away from now, outside the {tolerance_seconds}s window")]
    Stale {
        /// Distance from now.
        skew_seconds: i64,
        /// Allowed.
        tolerance_seconds: u64,
    },
    /// The signature header is not `v1=<base64|hex>`.
    #[error("signature header is not in the form v1=<signature>")]
    MalformedSignature,
    /// The MAC does not match.
    #[error("signature does not match")]
    BadSignature,
    /// The token does not match.
    #[error("token does not match")]
    BadToken,
    /// The caller's IP is not on the allowlist.
    #[error("source ip {0} is not allowed")]
    IpNotAllowed(String),
}

impl AuthError {
    /// Stable code for the HTTP answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "MISSING_AUTH_HEADER",
            Self::BadTimestamp | Self::Stale { .. } => "STALE_OR_INVALID_TIMESTAMP",
            Self::MalformedSignature | Self::BadSignature => "INVALID_SIGNATURE",
            Self::BadToken => "INVALID_TOKEN",
            Self::IpNotAllowed(_) => "SOURCE_IP_NOT_ALLOWED",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::IpNotAllowed(_) => 403,
            _ => 401,
        }
    }

    /// The header at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::MissingHeader(h) => h,
            Self::BadTimestamp | Self::Stale { .. } => TIMESTAMP_HEADER,
            Self::MalformedSignature | Self::BadSignature => SIGNATURE_HEADER,
            Self::BadToken => "token",
            Self::IpNotAllowed(_) => "source_ip",
        }
    }
}

/// Computes `v1=<base64>` for a body; used by senders (tests, the local stack, the Salesforce simulator docs).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Verifies an HMAC-SHA256 signature over `"<timestamp>.<body>"`.
///
/// # Errors
/// An `AuthError` naming what failed. The MAC check is constant-time (`Mac::verify_slice`).
pub fn verify_signature(
    key: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), AuthError> {
    let ts_raw = timestamp.ok_or(AuthError::MissingHeader(TIMESTAMP_HEADER))?;
    let sig_raw = signature.ok_or(AuthError::MissingHeader(SIGNATURE_HEADER))?;
    let ts: i64 = ts_raw.trim().parse().map_err(|_| AuthError::BadTimestamp)?;
    let skew = (now_unix - ts).abs();
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if skew > tol {
        return Err(AuthError::Stale {
            skew_seconds: skew,
            tolerance_seconds: tolerance.as_secs(),
        });
    }
    let provided = decode_signature(sig_raw)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| AuthError::BadSignature)?;
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&provided).map_err(|_| AuthError::BadSignature)
}

fn decode_signature(raw: &str) -> Result<Vec<u8>, AuthError> {
    // Several signatures may be sent during key rotation: "v1=abc, v1=def". We take the first v1.
    let v1 = raw
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("v1="))
        .ok_or(AuthError::MalformedSignature)?;
    if v1.len() == 64 && v1.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(v1).map_err(|_| AuthError::MalformedSignature);
    }
    base64::engine::general_purpose::STANDARD
        .decode(v1)
        .map_err(|_| AuthError::MalformedSignature)
}

/// Compares a presented token with the expected one in constant time.
///
/// # Errors
/// `BadToken` (also when absent).
pub fn verify_token(expected: &str, presented: Option<&str>) -> Result<(), AuthError> {
    let presented = presented.ok_or(AuthError::BadToken)?;
    if expected.is_empty() {
        return Err(AuthError::BadToken);
    }
    if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::BadToken)
    }
}

/// Checks the caller's IP against an allowlist; an empty list allows everyone.
///
/// # Errors
/// `IpNotAllowed` when the list is non-empty and the IP is absent or not on it.
pub fn check_ip(allow: &[IpAddr], source: Option<&str>) -> Result<(), AuthError> {
    if allow.is_empty() {
        return Ok(());
    }
    let ip: Option<IpAddr> = source.and_then(|s| s.parse().ok());
    match ip {
        Some(ip) if allow.contains(&ip) => Ok(()),
        _ => Err(AuthError::IpNotAllowed(source.unwrap_or("unknown").to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test-signing-key";
    const TOL: Duration = Duration::from_secs(300);

    fn sig_value(s: &str) -> &str {
        s
    }

    #[test]
    fn a_correctly_signed_body_is_accepted() {
        let sig = sign(KEY, 1_700_000_000, b"{\"a\":1}");
        assert_eq!(
            verify_signature(
                KEY,
                Some("1700000000"),
                Some(sig_value(&sig)),
                b"{\"a\":1}",
                1_700_000_010,
                TOL
            ),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        let sig = sign(KEY, 1_700_000_000, b"{\"a\":1}");
        let err =
            verify_signature(KEY, Some("1700000000"), Some(&sig), b"{\"a\":2}", 1_700_000_000, TOL).expect_err("bad");
        assert_eq!(err, AuthError::BadSignature);
        assert_eq!(err.status(), 401);
    }

    #[test]
    fn a_signature_made_with_another_key_is_rejected() {
        let sig = sign(b"other", 1_700_000_000, b"x");
        assert_eq!(
            verify_signature(KEY, Some("1700000000"), Some(&sig), b"x", 1_700_000_000, TOL),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn a_timestamp_outside_the_window_is_rejected_even_with_a_valid_mac() {
        let sig = sign(KEY, 1_700_000_000, b"x");
        let err = verify_signature(KEY, Some("1700000000"), Some(&sig), b"x", 1_700_000_301, TOL).expect_err("stale");
        assert!(matches!(err, AuthError::Stale { skew_seconds: 301, .. }));
    }

    #[test]
    fn a_hex_signature_is_accepted_too() {
        let b64 = sign(KEY, 5, b"x");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&b64[3..])
            .expect("b64");
        let hex_sig = format!("v1={}", hex::encode(raw));
        assert_eq!(verify_signature(KEY, Some("5"), Some(&hex_sig), b"x", 5, TOL), Ok(()));
    }

    #[test]
    fn missing_headers_are_named() {
        assert_eq!(
            verify_signature(KEY, None, Some("v1=x"), b"x", 0, TOL),
            Err(AuthError::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify_signature(KEY, Some("0"), None, b"x", 0, TOL),
            Err(AuthError::MissingHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify_signature(KEY, Some("0"), Some("sha256=abc"), b"x", 0, TOL),
            Err(AuthError::MalformedSignature)
        );
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert_eq!(verify_token("s3cret", Some("s3cret")), Ok(()));
        assert_eq!(verify_token("s3cret", Some("s3cre")), Err(AuthError::BadToken));
        assert_eq!(verify_token("s3cret", None), Err(AuthError::BadToken));
        assert_eq!(verify_token("", Some("")), Err(AuthError::BadToken));
    }

    #[test]
    fn the_ip_allowlist_is_enforced_only_when_configured() {
        let allow: Vec<IpAddr> = vec!["20.44.83.105".parse().expect("ip")];
        assert_eq!(check_ip(&[], Some("1.2.3.4")), Ok(()));
        assert_eq!(check_ip(&allow, Some("20.44.83.105")), Ok(()));
        assert_eq!(check_ip(&allow, Some("1.2.3.4")).expect_err("deny").status(), 403);
        assert!(check_ip(&allow, None).is_err());
    }
}
