//! TLS for the HTTP client ([`super::http`]): the client configuration (rustls with the *ring*
//! provider; TLS 1.2 and 1.3) and its trust roots, and plain-words explanations of handshake
//! failures.
//!
//! Trust roots, as an SRE expects from curl or logcli: the system store (found by
//! `openssl-probe`: `/etc/ssl/certs/ca-certificates.crt` and the like) — or, when
//! `SSL_CERT_FILE` and/or `SSL_CERT_DIR` are set, only those (rustls-native-certs) — plus the
//! PEM certificates of `--ca-file` (e.g. a company CA in front of Loki). There is no way to
//! turn verification off.
//!
//! # Invariants
//! * Never panics: unreadable stores and bad PEM are errors or notes, not `expect`s.
//! * The handshake is completed before any request byte (credentials) is written
//!   ([`super::http::get`]), so nothing is sent to a server whose certificate failed.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// A client configuration with its trust roots, shared by the connections of one input.
/// Equality is identity (two configs are equal only if they are the same one).
#[derive(Clone)]
pub struct TlsConfig {
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// Trust anchors loaded.
    pub roots: usize,
    /// Why the system store gave nothing, if it did (shown with certificate errors).
    pub note: Option<String>,
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsConfig {}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// A trust configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `--ca-file` cannot be read or holds no usable certificate.
    #[error("--ca-file {path}: {message}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration (not expected with the built-in provider).
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The client configuration: system roots (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus the
/// certificates in `ca_file`. An empty system store is not an error here (the handshake then
/// fails with a message saying so); a `ca_file` that cannot be read or holds no certificate is.
///
/// # Errors
/// [`TlsError::CaFile`] for a bad `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<TlsConfig, TlsError> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = store.add_parsable_certificates(native.certs);
    let mut note = None;
    if added == 0 {
        let why: Vec<String> = native.errors.iter().map(ToString::to_string).collect();
        note = Some(if why.is_empty() {
            "no CA certificates were found in the system store".to_string()
        } else {
            format!("the system store could not be read: {}", why.join("; "))
        });
    }
    if let Some(path) = ca_file {
        let bad = |message: String| TlsError::CaFile {
            path: path.display().to_string(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(pem_error(&e)))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(pem_error(&e)))?;
        if certs.is_empty() {
            return Err(bad(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        for (i, c) in certs.into_iter().enumerate() {
            store
                .add(c)
                .map_err(|e| bad(format!("certificate {}: {e}", i + 1)))?;
        }
    }
    let roots = store.len();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConfig {
        config: Arc::new(config),
        roots,
        note,
    })
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not a PEM file: {other}"),
    }
}

/// Plain words for a failed handshake (`e` is rustls' error).
pub fn explain(e: &rustls::Error, tls: &TlsConfig) -> String {
    let trust = match &tls.note {
        None => "trusted roots: the system store, or SSL_CERT_FILE / SSL_CERT_DIR if set, plus \
                 --ca-file"
            .to_string(),
        Some(n) if tls.roots > 0 => format!("trusted roots: --ca-file only ({n})"),
        Some(n) => format!(
            "no trusted roots at all ({n}): set SSL_CERT_FILE / SSL_CERT_DIR or pass --ca-file"
        ),
    };
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "certificate not trusted: it is not signed by a trusted CA (self-signed, or a private CA?); {trust}"
        ),
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            format!("certificate not trusted: bad signature; {trust}")
        }
        rustls::Error::InvalidCertificate(CertificateError::Other(o))
            if format!("{o:?}").contains("CaUsedAsEndEntity") =>
        {
            "certificate rejected: the server presents a CA certificate (basicConstraints \
             CA:TRUE) as its own, as `openssl req -x509` makes by default; serve a certificate \
             issued by that CA, or make it with `-addext basicConstraints=critical,CA:FALSE`"
                .to_string()
        }
        rustls::Error::InvalidCertificate(c) => format!("certificate rejected: {c}"),
        rustls::Error::InvalidMessage(_) => {
            format!("{e} (is the server speaking plain http on this port?)")
        }
        other => other.to_string(),
    }
}
