//! TLS on every connection of a node: mutual authentication between peers, server
//! authentication for clients (rustls over tokio, the `ring` provider, TLS 1.3 only).
//!
//! What each side proves, all against one CA (the cluster's `--tls-ca`):
//! - **A peer's id comes from its certificate, never from its hello.** Server `N`'s certificate
//!   carries the subjectAltName DNS name `node-N.ballot` ([`server_dns_name`]) and is valid for
//!   TLS server and client use. The dialer checks that the acceptor's certificate is valid for
//!   the name of the peer it dialed. The acceptor asks every connection for a certificate and
//!   verifies one if offered; the configured server whose name the certificate is valid for
//!   (matched by webpki exactly as a server name is, so no wildcard can name a server) is who the
//!   connection is ([`Credentials`]). A hello that claims another id is refused
//!   ([`Credentials::admit_peer`]).
//! - **Clients need no certificate.** A client checks that the server holds a certificate of the
//!   cluster's CA for TLS server use; it does not check which server (it knows addresses, not
//!   ids). A client may present a certificate; it is verified against the CA, and it makes the
//!   connection a peer only if it names a server.
//!
//! So the CA must be the cluster's own: everything it signed for server use is a server of the
//! cluster. [`CertAuthority`] makes a throw-away one with rcgen (`ballot cluster`, tests); its
//! key is never written to disk.
//!
//! rustls configurations are shared with `std::sync::Arc` (rustls' own type), outside the
//! loom shim: they are immutable after start.

use ballot_core::ServerId;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{NoServerSessionStorage, ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, ServerConnection,
    SignatureScheme,
};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The whole TLS handshake of a connection, either side, must finish within this long: a
/// stranger who opens a connection and sends nothing (or trickles a ClientHello) holds a
/// connection slot at most this long before its hello's own deadline starts.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The DNS name (subjectAltName) that server `id`'s certificate carries: `node-<id>.ballot`.
pub fn server_dns_name(id: ServerId) -> String {
    format!("node-{}.ballot", id.0)
}

fn server_name(id: ServerId) -> ServerName<'static> {
    ServerName::try_from(server_dns_name(id)).expect("node-<u64>.ballot is a valid DNS name")
}

/// The name a client sends; unchecked (see the module doc), and SNI is off.
const CLIENT_SERVER_NAME: &str = "ballot";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why TLS material could not be loaded or made; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read, or holds no usable PEM block.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// This server's certificate does not name it.
    #[error("{}: the certificate is not valid for {name} (server {id}): {reason}", path.display())]
    NotThisServer {
        /// The certificate file.
        path: PathBuf,
        /// The server it should name.
        id: ServerId,
        /// The DNS name it should carry.
        name: String,
        /// The verifier's complaint.
        reason: String,
    },
    /// This server's certificate does not chain to the CA.
    #[error("{}: the certificate is not signed by the CA in {}: {reason}", cert.display(), ca.display())]
    NotSignedByCa {
        /// The certificate file.
        cert: PathBuf,
        /// The CA file.
        ca: PathBuf,
        /// The verifier's complaint.
        reason: String,
    },
    /// rustls refused the combination (for instance a key that does not match the certificate).
    #[error("{} with {}: {reason}", cert.display(), key.display())]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' complaint.
        reason: String,
    },
    /// rcgen failed to make a key or certificate.
    #[error("generating certificates: {0}")]
    Generate(String),
}

fn file_error(path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}

/// The three PEM files of a node: `--tls-cert`, `--tls-key`, `--tls-ca`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// This server's certificate (then any intermediates).
    pub cert: PathBuf,
    /// Its private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// The cluster's CA certificate(s): what peers' and clients' certificates must chain to.
    pub ca: PathBuf,
}

/// A node's TLS: how it accepts connections and dials peers. Built once at start.
#[derive(Clone)]
pub struct NodeTls {
    id: ServerId,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeTls").field("id", &self.id).finish()
    }
}

impl NodeTls {
    /// Loads server `id`'s material. Its certificate must name it ([`server_dns_name`]) and
    /// chain to the CA, so that a mixed-up file fails here, at start, rather than at every peer.
    pub fn load(id: ServerId, files: &TlsFiles) -> Result<Self, TlsError> {
        let provider = provider();
        let chain = read_certs(&files.cert)?;
        let key = read_key(&files.key)?;
        let roots = read_roots(&files.ca)?;

        let own = ParsedCertificate::try_from(&chain[0]).map_err(|e| file_error(&files.cert, e))?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &own,
            &roots,
            &chain[1..],
            UnixTime::now(),
            provider.signature_verification_algorithms.all,
        )
        .map_err(|e| TlsError::NotSignedByCa {
            cert: files.cert.clone(),
            ca: files.ca.clone(),
            reason: e.to_string(),
        })?;
        rustls::client::verify_server_name(&own, &server_name(id)).map_err(|e| {
            TlsError::NotThisServer {
                path: files.cert.clone(),
                id,
                name: server_dns_name(id),
                reason: e.to_string(),
            }
        })?;

        let config_error = |e: rustls::Error| TlsError::Config {
            cert: files.cert.clone(),
            key: files.key.clone(),
            reason: e.to_string(),
        };
        // Every connection is asked for a certificate; only peers must have one (checked
        // against the hello, `Credentials::admit_peer`). One that is offered must verify.
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| file_error(&files.ca, e))?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(config_error)?;
        // No resumption: every connection shows (and has verified) its certificate.
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(NoServerSessionStorage {});
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(config_error)?;
        client.resumption = Resumption::disabled();
        Ok(NodeTls {
            id,
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// How a node's connections are secured.
#[derive(Clone, Debug)]
pub enum NodeSecurity {
    /// Mutual TLS between peers, TLS for clients.
    Tls(NodeTls),
    /// No TLS (`--insecure-plaintext`): anyone who says `Hello{Peer(id)}` is taken as `id`.
    InsecurePlaintext,
}

/// The read half of a connection, plaintext or TLS.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection, plaintext or TLS.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

fn split<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> (ReadHalf, WriteHalf) {
    let (read, write) = tokio::io::split(stream);
    (Box::new(read), Box::new(write))
}

fn split_tcp(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    let (read, write) = stream.into_split();
    (Box::new(read), Box::new(write))
}

fn handshake_timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
    )
}

impl NodeSecurity {
    /// Whether connections are plaintext.
    pub fn is_plaintext(&self) -> bool {
        matches!(self, NodeSecurity::InsecurePlaintext)
    }

    /// Secures a connection this server dialed to `peer`: the acceptor must prove it is `peer`,
    /// and this server shows its own certificate. Bounded by [`TLS_HANDSHAKE_TIMEOUT`].
    pub async fn dial(
        &self,
        peer: ServerId,
        stream: TcpStream,
    ) -> std::io::Result<(ReadHalf, WriteHalf)> {
        match self {
            NodeSecurity::InsecurePlaintext => Ok(split_tcp(stream)),
            NodeSecurity::Tls(tls) => {
                let connect = tls.connector.connect(server_name(peer), stream);
                let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connect)
                    .await
                    .map_err(|_| handshake_timed_out())??;
                Ok(split(stream))
            }
        }
    }

    /// Secures an accepted connection and says what its certificate proves; `servers` are the
    /// configured ids. The caller bounds the handshake's time (it holds a connection slot).
    pub async fn accept<S>(
        &self,
        stream: S,
        servers: impl Iterator<Item = ServerId>,
    ) -> Result<(ReadHalf, WriteHalf, Credentials), String>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        match self {
            NodeSecurity::InsecurePlaintext => {
                let (read, write) = split(stream);
                Ok((read, write, Credentials::Unauthenticated))
            }
            NodeSecurity::Tls(tls) => {
                let stream = tls
                    .acceptor
                    .accept(stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                let credentials = Credentials::of(stream.get_ref().1, servers);
                let (read, write) = split(stream);
                Ok((read, write, credentials))
            }
        }
    }
}

/// What an accepted connection's transport proved about who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Plaintext (`--insecure-plaintext`): nothing; a peer's hello is believed.
    Unauthenticated,
    /// TLS without a client certificate: a client, never a peer.
    NoCertificate,
    /// TLS with a certificate of the CA that is valid for this configured server's name.
    Server(ServerId),
    /// TLS with a certificate of the CA that names no configured server (a client's).
    NoServer,
    /// TLS with a certificate valid for several servers' names: never a peer.
    SeveralServers(Vec<ServerId>),
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Unauthenticated => write!(f, "no TLS"),
            Credentials::NoCertificate => write!(f, "no client certificate"),
            Credentials::Server(id) => write!(f, "a certificate of server {id}"),
            Credentials::NoServer => write!(f, "a certificate naming no configured server"),
            Credentials::SeveralServers(ids) => {
                let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                write!(f, "a certificate naming servers {}", ids.join(", "))
            }
        }
    }
}

impl Credentials {
    /// What the (already verified) client certificate of `conn` names among `servers`.
    fn of(conn: &ServerConnection, servers: impl Iterator<Item = ServerId>) -> Self {
        let Some(end_entity) = conn.peer_certificates().and_then(|chain| chain.first()) else {
            return Credentials::NoCertificate;
        };
        let cert = ParsedCertificate::try_from(end_entity)
            .expect("rustls parsed and verified this certificate during the handshake");
        let named: Vec<ServerId> = servers
            .filter(|id| rustls::client::verify_server_name(&cert, &server_name(*id)).is_ok())
            .collect();
        match named.as_slice() {
            [] => Credentials::NoServer,
            [one] => Credentials::Server(*one),
            _ => Credentials::SeveralServers(named),
        }
    }

    /// Whether a connection with these credentials may act as peer `claimed` (its hello's
    /// claim); `Err` says why not, naming both the claim and what the certificate names.
    pub fn admit_peer(&self, claimed: ServerId) -> Result<(), String> {
        match self {
            Credentials::Unauthenticated => Ok(()),
            Credentials::Server(id) if *id == claimed => Ok(()),
            _ => Err(format!(
                "hello claims server {claimed}, the connection has {self}"
            )),
        }
    }
}

/// How a client connects.
#[derive(Clone, Debug)]
pub enum ClientSecurity {
    /// TLS, the server authenticated against the cluster's CA.
    Tls(ClientTls),
    /// No TLS (`--insecure-plaintext`): the client cannot tell a server from an impostor.
    InsecurePlaintext,
}

impl ClientSecurity {
    /// Secures a connection the client opened, within [`TLS_HANDSHAKE_TIMEOUT`].
    pub async fn secure(&self, stream: TcpStream) -> std::io::Result<(ReadHalf, WriteHalf)> {
        match self {
            ClientSecurity::InsecurePlaintext => Ok(split_tcp(stream)),
            ClientSecurity::Tls(tls) => {
                let name =
                    ServerName::try_from(CLIENT_SERVER_NAME).expect("a valid DNS name literal");
                let connect = tls.connector.connect(name, stream);
                let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connect)
                    .await
                    .map_err(|_| handshake_timed_out())??;
                Ok(split(stream))
            }
        }
    }
}

/// A client's TLS: the cluster's CA, and optionally a client certificate.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the servers whose certificates chain to the CA in `ca`; `identity` is an optional
    /// client certificate and key (PEM files).
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, TlsError> {
        let provider = provider();
        let verifier = Arc::new(ClusterServerVerifier {
            roots: read_roots(ca)?,
            algorithms: provider.signature_verification_algorithms,
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| file_error(ca, e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| TlsError::Config {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                    reason: e.to_string(),
                })?,
        };
        config.enable_sni = false;
        config.resumption = Resumption::disabled();
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// A client's check of a server: a certificate of the cluster's CA for TLS server use (chain,
/// validity, key usage), whatever server it names; see the module doc.
#[derive(Debug)]
struct ClusterServerVerifier {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ClusterServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A certificate and its key, PEM-encoded.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert").finish_non_exhaustive()
    }
}

impl IssuedCert {
    /// Writes the certificate to `cert` and the key to `key` (mode 0600 on Unix).
    pub fn write(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        std::fs::write(cert, &self.cert_pem).map_err(|e| file_error(cert, e))?;
        write_private(key, self.key_pem.as_bytes())
    }
}

/// Writes a secret readable by its owner only; an older file is replaced, not reused, so its
/// permissions cannot leak into the new one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(path, e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| file_error(path, e))?;
    file.write_all(bytes).map_err(|e| file_error(path, e))
}

/// Which TLS uses an issued certificate allows (its extended key usage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertUse {
    /// A server: accepts as a TLS server and dials peers as a TLS client.
    Server,
    /// A client only: cannot pose as a server to clients or peers.
    Client,
}

/// A throw-away certificate authority (ECDSA P-256, made with rcgen's ring backend); its key
/// lives in memory only.
pub struct CertAuthority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority").finish_non_exhaustive()
    }
}

fn generate_error(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

impl CertAuthority {
    /// A new CA whose certificate's common name is `name`; it may sign end-entity
    /// certificates only (path length 0).
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate_error)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(generate_error)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(generate_error)?;
        Ok(CertAuthority { issuer })
    }

    /// The CA's certificate, PEM-encoded (what `--tls-ca` names).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Server `id`'s certificate: DNS name [`server_dns_name`], common name `node-<id>`.
    pub fn issue_server(&self, id: ServerId) -> Result<IssuedCert, TlsError> {
        self.issue(
            &[server_dns_name(id)],
            &format!("node-{}", id.0),
            CertUse::Server,
        )
    }

    /// A certificate for `dns_names` with common name `common_name`, for `usage`.
    pub fn issue(
        &self,
        dns_names: &[String],
        common_name: &str,
        usage: CertUse,
    ) -> Result<IssuedCert, TlsError> {
        let mut params = CertificateParams::new(dns_names.to_vec()).map_err(generate_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match usage {
            CertUse::Server => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            CertUse::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        let key = KeyPair::generate().map_err(generate_error)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(generate_error)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// What [`write_cluster_tls`] wrote.
#[derive(Clone, Debug)]
pub struct ClusterTlsFiles {
    /// `DIR/ca.pem`: the CA certificate, for `--tls-ca` of nodes and clients.
    pub ca: PathBuf,
    /// Each server's `--tls-cert`/`--tls-key`/`--tls-ca`.
    pub nodes: BTreeMap<ServerId, TlsFiles>,
}

/// Makes a fresh CA and one certificate per server in `dir`: `ca.pem`, and `node<id>-cert.pem`
/// with `node<id>-key.pem` (mode 0600). Earlier files of those names are replaced; the CA's
/// key is not written, so nobody can issue more certificates for this cluster.
pub fn write_cluster_tls(
    dir: &Path,
    ids: impl IntoIterator<Item = ServerId>,
) -> Result<ClusterTlsFiles, TlsError> {
    let ca = CertAuthority::new("ballot cluster CA (throw-away)")?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).map_err(|e| file_error(&ca_path, e))?;
    let mut nodes = BTreeMap::new();
    for id in ids {
        let files = TlsFiles {
            cert: dir.join(format!("node{}-cert.pem", id.0)),
            key: dir.join(format!("node{}-key.pem", id.0)),
            ca: ca_path.clone(),
        };
        ca.issue_server(id)?.write(&files.cert, &files.key)?;
        nodes.insert(id, files);
    }
    Ok(ClusterTlsFiles { ca: ca_path, nodes })
}

#[cfg(all(test, not(ballot_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_node_refuses_a_certificate_that_does_not_name_it_or_chain_to_its_ca() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_cluster_tls(dir.path(), [ServerId(1), ServerId(2)]).unwrap();
        let one = &written.nodes[&ServerId(1)];
        NodeTls::load(ServerId(1), one).expect("its own certificate loads");

        let err = NodeTls::load(ServerId(2), one).unwrap_err().to_string();
        assert!(
            err.contains("node1-cert.pem") && err.contains("not valid for node-2.ballot"),
            "{err}"
        );

        let other = CertAuthority::new("another").unwrap();
        let other_ca = dir.path().join("other-ca.pem");
        std::fs::write(&other_ca, other.cert_pem()).unwrap();
        let files = TlsFiles {
            ca: other_ca,
            ..one.clone()
        };
        let err = NodeTls::load(ServerId(1), &files).unwrap_err().to_string();
        assert!(err.contains("not signed by the CA in"), "{err}");

        let files = TlsFiles {
            key: written.nodes[&ServerId(2)].key.clone(),
            ..one.clone()
        };
        let err = NodeTls::load(ServerId(1), &files).unwrap_err().to_string();
        assert!(err.contains("node2-key.pem"), "{err}");

        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            ..one.clone()
        };
        let err = NodeTls::load(ServerId(1), &missing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.pem"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_are_written_for_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let written = write_cluster_tls(dir.path(), [ServerId(1)]).unwrap();
        let mode = std::fs::metadata(&written.nodes[&ServerId(1)].key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_hello_is_admitted_only_for_the_server_the_certificate_names() {
        let two = Credentials::Server(ServerId(2));
        assert_eq!(two.admit_peer(ServerId(2)), Ok(()));
        assert_eq!(
            two.admit_peer(ServerId(3)).unwrap_err(),
            "hello claims server 3, the connection has a certificate of server 2"
        );
        for refused in [
            Credentials::NoCertificate,
            Credentials::NoServer,
            Credentials::SeveralServers(vec![ServerId(2), ServerId(3)]),
        ] {
            assert!(refused.admit_peer(ServerId(2)).is_err(), "{refused}");
        }
        assert_eq!(Credentials::Unauthenticated.admit_peer(ServerId(3)), Ok(()));
    }
}
