//! TLS of the join endpoint and of the node endpoint.
//!
//! The join endpoint presents the manager's node certificate. A joining node first connects
//! trusting nothing, only to fetch the CA and note the certificate the server showed; once
//! the CA matches its token's digest and that certificate is one the CA issued, it connects
//! again trusting exactly that CA, and only then sends its token.
//!
//! The node endpoint is mutual: each side presents its node certificate and accepts only a
//! certificate the cluster's CA issued.

use crate::{Result, SwarmError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex};

fn provider() -> Arc<CryptoProvider> {
    // ring's provider without post-quantum key exchange: both ends are ferry, and classic
    // ECDHE is what the ring backend offers.
    #[allow(deprecated)]
    Arc::new(ring::default_provider())
}

fn tls_err(what: &str) -> impl FnOnce(rustls::Error) -> SwarmError + '_ {
    move |e| SwarmError::Internal(format!("{what}: {e}"))
}

/// The join endpoint's server side, presenting `cert_pem` (with `key_pem`).
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>> {
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| SwarmError::Internal(format!("the node certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| SwarmError::Internal(format!("the node key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(tls_err("the join endpoint's certificate"))?;
    Ok(Arc::new(config))
}

/// The node endpoint's server side: presents the node's certificate and requires one from
/// the client that the CA in `ca_pem` issued.
pub fn mutual_server_config(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
) -> Result<Arc<rustls::ServerConfig>> {
    let (cert, key) = cert_and_key(cert_pem, key_pem)?;
    let verifier = Arc::new(ClientVerifier {
        ca: ca_pem.to_string(),
        provider: provider(),
    });
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .map_err(tls_err("the node endpoint's certificate"))?;
    Ok(Arc::new(config))
}

/// The node endpoint's client side: presents the node's certificate and trusts servers whose
/// certificate the CA in `ca_pem` issued.
pub fn mutual_client_config(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
) -> Result<Arc<rustls::ClientConfig>> {
    let (cert, key) = cert_and_key(cert_pem, key_pem)?;
    let verifier = Arc::new(Verifier {
        trust: Trust::Ca(ca_pem.to_string()),
        provider: provider(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert], key)
        .map_err(tls_err("the node's client certificate"))?;
    Ok(Arc::new(config))
}

fn cert_and_key(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| SwarmError::Internal(format!("the node certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| SwarmError::Internal(format!("the node key: {e}")))?;
    Ok((cert, key))
}

/// Accepts a client whose certificate the cluster's CA issued (any node of the swarm).
#[derive(Debug)]
struct ClientVerifier {
    ca: String,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        ferry_pki::verify_node_cert(
            &pem_of_der(end_entity),
            &self.ca,
            std::time::SystemTime::now(),
        )
        .map(|_| ClientCertVerified::assertion())
        .map_err(|e| {
            rustls::Error::General(format!(
                "the client's certificate is not from the swarm's CA: {e}"
            ))
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a client verifier does with the server's certificate.
#[derive(Debug)]
enum Trust {
    /// Accept it, and keep it for a later check.
    Note(Mutex<Option<Vec<u8>>>),
    /// Accept it only if this CA (PEM) issued it.
    Ca(String),
}

#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match &self.trust {
            Trust::Note(seen) => {
                *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(end_entity.to_vec());
                Ok(ServerCertVerified::assertion())
            }
            // The name is not checked: a node is known by its CA, whichever address it is
            // reached at.
            Trust::Ca(ca) => match ferry_pki::verify_node_cert(
                &pem_of_der(end_entity),
                ca,
                std::time::SystemTime::now(),
            ) {
                Ok(_) => Ok(ServerCertVerified::assertion()),
                Err(e) => Err(rustls::Error::General(format!(
                    "the server's certificate is not from the swarm's CA: {e}"
                ))),
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client side that accepts any server and notes its certificate; read it with the
/// returned [`Noted`] after the handshake.
pub fn noting_client() -> Result<(Arc<rustls::ClientConfig>, Noted)> {
    let verifier = Arc::new(Verifier {
        trust: Trust::Note(Mutex::new(None)),
        provider: provider(),
    });
    Ok((client_config(verifier.clone())?, Noted(verifier)))
}

/// The certificate a noting client saw.
pub struct Noted(Arc<Verifier>);

impl Noted {
    /// The server's certificate as PEM, once a handshake happened.
    pub fn cert_pem(&self) -> Option<String> {
        match &self.0.trust {
            Trust::Note(seen) => seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_deref()
                .map(pem_of_der),
            Trust::Ca(_) => None,
        }
    }
}

/// A client side that trusts servers with a certificate from the CA in `ca_pem`.
pub fn pinned_client(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>> {
    client_config(Arc::new(Verifier {
        trust: Trust::Ca(ca_pem.to_string()),
        provider: provider(),
    }))
}

fn client_config(verifier: Arc<Verifier>) -> Result<Arc<rustls::ClientConfig>> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// PEM of a DER certificate.
pub fn pem_of_der(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The TLS side of a connection a server accepted, within 10 s; `None` (logged at debug
/// level, naming `endpoint`) when the handshake fails or stalls.
pub async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    endpoint: &str,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        other => {
            tracing::debug!(%peer, ?other, "{endpoint} endpoint: TLS handshake failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_through_der() {
        for der in [
            vec![],
            vec![1u8],
            vec![1, 2],
            vec![1, 2, 3],
            (0..=255).collect(),
        ] {
            let pem = pem_of_der(&der);
            if der.is_empty() {
                continue;
            }
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), der.as_slice());
        }
    }
}
