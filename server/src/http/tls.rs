//! TLS for the web side (`--tls-cert FILE --tls-key FILE`): rustls with the *ring* provider,
//! TLS 1.2 and 1.3, no client certificates, HTTP/1.1 by ALPN.
//!
//! The files are read once at start-up ([`load`]); what is wrong with them (unreadable, not
//! PEM, no certificate, no key, a key that is not the certificate's) is the operator's error,
//! said with the file's name. The handshake runs in each connection's own task, bounded by
//! [`HANDSHAKE_TIMEOUT`] and inside the connection limit ([`super::serve`]), so a client that
//! never finishes it holds one place for that long and nothing else.
//!
//! [`self_signed`] makes a certificate and key for a server that has none (the package's
//! install, `callrec-server tls self-signed`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A client must finish the TLS handshake within this after its connection is accepted.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest certificate or key file read (a chain of a few certificates is a few KiB).
const MAX_PEM: u64 = 1024 * 1024;
/// The HSTS header's value under TLS (one year).
pub const HSTS: &str = "max-age=31536000";

/// What is wrong with the certificate or the key; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// The server's TLS configuration from a PEM certificate chain (the server's certificate
/// first) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read(cert, "--tls-cert")?;
    let key_pem = read(key, "--tls-key")?;
    let chain = certificates(&cert_pem)
        .map_err(|why| TlsError(format!("--tls-cert {}: {why}", cert.display())))?;
    let private = private_key(&key_pem)
        .map_err(|why| TlsError(format!("--tls-key {}: {why}", key.display())))?;
    config(chain, private).map_err(|why| {
        TlsError(format!(
            "--tls-cert {} and --tls-key {}: {why}",
            cert.display(),
            key.display()
        ))
    })
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let fail = |e: std::io::Error| TlsError(format!("{flag} {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(TlsError(format!(
            "{flag} {}: larger than {MAX_PEM} bytes; not a PEM file",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The certificates of a PEM file, in order.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file ({e})"))?;
    if chain.is_empty() {
        return Err("no PEM certificate in it (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(chain)
}

/// The private key of a PEM file.
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM private key in it (-----BEGIN PRIVATE KEY-----)".to_string()
        }
        e => format!("not a PEM private key file ({e})"),
    })
}

/// The configuration for `chain` and `key`; fails if the key is not the certificate's or of a
/// kind the provider does not sign with.
pub fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "the key is not the certificate's (they do not match)".to_string()
            }
            e => format!("not usable: {e}"),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate and its key, PEM.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed certificate (ECDSA P-256) for `names` (DNS names or IP addresses, the first
/// also its common name), valid from a day before `unix_secs` for `days` days.
pub fn self_signed(names: &[String], unix_secs: i64, days: u32) -> Result<SelfSigned, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("names: {e}"))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().map_or("callrec-server", |n| n.as_str()),
    );
    dn.push(
        rcgen::DnType::OrganizationName,
        "callrec-server (self-signed)",
    );
    params.distinguished_name = dn;
    let date = |secs: i64| {
        let (y, m, d) = callrec_core::utc::civil_of_unix(secs);
        rcgen::date_time_ymd(y as i32, m, d)
    };
    params.not_before = date(unix_secs - 86_400);
    params.not_after = date(unix_secs + i64::from(days) * 86_400);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("certificate: {e}"))?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(names: &[&str]) -> SelfSigned {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        self_signed(&names, 1_790_000_000, 30).unwrap()
    }

    #[test]
    fn a_self_signed_pair_loads() {
        let p = pair(&["recorder.example", "192.0.2.7"]);
        let chain = certificates(p.cert_pem.as_bytes()).unwrap();
        assert_eq!(chain.len(), 1);
        let key = private_key(p.key_pem.as_bytes()).unwrap();
        let c = config(chain, key).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let a = pair(&["a.example"]);
        let b = pair(&["b.example"]);
        let chain = certificates(a.cert_pem.as_bytes()).unwrap();
        let key = private_key(b.key_pem.as_bytes()).unwrap();
        let err = config(chain, key).unwrap_err();
        assert!(err.contains("not the certificate's"), "{err}");
    }

    #[test]
    fn files_that_are_not_pem_say_so() {
        assert!(certificates(b"hello")
            .unwrap_err()
            .contains("no PEM certificate"));
        assert!(private_key(b"hello")
            .unwrap_err()
            .contains("no PEM private key"));
        let p = pair(&["a.example"]);
        // A key file given as the certificate, and the other way round.
        assert!(certificates(p.key_pem.as_bytes())
            .unwrap_err()
            .contains("no PEM certificate"));
        assert!(private_key(p.cert_pem.as_bytes())
            .unwrap_err()
            .contains("no PEM private key"));
    }

    #[test]
    fn load_names_the_file() {
        let err = load(
            Path::new("/nonexistent/c.pem"),
            Path::new("/nonexistent/k.pem"),
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("--tls-cert /nonexistent/c.pem: "), "{err}");
    }
}
