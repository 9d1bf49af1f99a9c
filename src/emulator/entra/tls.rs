//! https on loopback. Microsoft's JavaScript Graph client attaches
//! `Authorization` only to `https://` URLs and reads only `https://`
//! `@odata.nextLink`s (facts doc §10), so the emulator can serve https beside
//! plain http.
//!
//! Either it makes its own certificate authority and a server certificate for
//! `127.0.0.1`, `::1` and `localhost` (ECDSA P-256, fresh at every start; the
//! CA certificate is written to a file, e.g. for `NODE_EXTRA_CA_CERTS`), or it
//! reads a certificate chain and key from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the server certificate comes from.
#[derive(Clone, Debug)]
pub enum CertSource {
    /// Make a CA and a loopback certificate; write the CA certificate (PEM) here.
    Generate { ca_file: PathBuf },
    /// Read these PEM files (the chain, leaf first, and its private key).
    Files { cert: PathBuf, key: PathBuf },
}

/// A server certificate and the CA file clients should trust (when generated).
pub struct ServerCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub ca_file: Option<PathBuf>,
}

/// Make a CA and, signed by it, a server certificate for the loopback names.
pub fn generate(ca_file: &Path) -> anyhow::Result<ServerCert> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "clientops emulate entra CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "clientops emulate entra");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer)?;

    if let Some(dir) = ca_file.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(ca_file, ca_cert.pem())
        .with_context(|| format!("writing the CA certificate to {}", ca_file.display()))?;
    Ok(ServerCert {
        chain: vec![cert.der().clone(), ca_cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ca_file: Some(ca_file.to_path_buf()),
    })
}

/// Read a PEM chain and key.
pub fn load(cert: &Path, key: &Path) -> anyhow::Result<ServerCert> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    Ok(ServerCert {
        chain,
        key,
        ca_file: None,
    })
}

impl CertSource {
    /// The certificate this source gives.
    pub fn server_cert(&self) -> anyhow::Result<ServerCert> {
        match self {
            CertSource::Generate { ca_file } => generate(ca_file),
            CertSource::Files { cert, key } => load(cert, key),
        }
    }
}

/// A TLS acceptor (HTTP/1.1) for `cert`.
pub fn acceptor(cert: ServerCert) -> anyhow::Result<TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(cert.chain, cert.key)
    .context("the certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_load_into_an_acceptor() {
        let dir = std::env::temp_dir().join(format!("clientops-entra-tls-{}", std::process::id()));
        let ca = dir.join("ca.pem");
        let cert = generate(&ca).unwrap();
        assert_eq!(cert.chain.len(), 2);
        let pem = std::fs::read_to_string(&ca).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        acceptor(cert).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
