//! The lobby over TLS 1.3 (PROTOCOL.md section 8.4): the certificate and key
//! ([`LobbyTls`]), the errors of reading them ([`TlsFileError`]), and a connection's TLS
//! state ([`Stream`]), which the shell in `conn.rs` drives on its own event loop.
//!
//! rustls is sans-IO: ciphertext read from the socket goes in with `read_tls`, plaintext
//! comes out of its reader into the lobby's receive ring; what the lobby queues goes
//! through its writer, and `write_tls` puts the records on the socket. TLS 1.3 only, with
//! the `ring` provider; no session resumption (a lobby connection is long-lived, and a
//! ticket store would be memory per client that nobody bounds for us).
//!
//! Memory per connection is bounded by rustls itself: received plaintext at most 16 KiB
//! (the shell empties it into the ring before it reads more), a record being reassembled
//! at most one record (about 18 KiB, 64 KiB for a handshake message), queued records at
//! most [`TLS_SEND_LIMIT`].

use mio::net::TcpStream;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerConfig, ServerConnection};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most bytes of records rustls queues for one connection before its writer takes no more
/// plaintext (rustls's own default is 64 KiB): the lobby's send ring already holds what a
/// slow reader has not taken, so this is only the socket's next few writes.
pub(crate) const TLS_SEND_LIMIT: usize = 16 * 1024;

/// Most bytes read of a certificate or key file: real ones are a few KiB, so a larger file
/// (or `/dev/zero`) is refused instead of read into memory.
const MAX_PEM_FILE: u64 = 1 << 20;

/// The lobby's TLS certificate chain and private key, ready to serve TLS 1.3
/// (`tickwire serve --lobby-tls-cert FILE --lobby-tls-key FILE`). Cheap to clone: the
/// configuration is shared.
#[derive(Clone)]
pub struct LobbyTls {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for LobbyTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LobbyTls(TLS 1.3)")
    }
}

/// Two settings are the same when they share one configuration (clones of one
/// [`LobbyTls`]).
impl PartialEq for LobbyTls {
    fn eq(&self, other: &LobbyTls) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for LobbyTls {}

/// Which of the two files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    /// The certificate chain (`--lobby-tls-cert`).
    Certificate,
    /// The private key (`--lobby-tls-key`).
    PrivateKey,
    /// A CA certificate a client trusts (`tickwire-chat --ca`).
    Ca,
}

impl fmt::Display for PemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemKind::Certificate => "certificate",
            PemKind::PrivateKey => "private key",
            PemKind::Ca => "CA certificate",
        })
    }
}

/// Why a TLS certificate, key or CA file cannot be used. Its `Display` names the file and
/// says what is wrong.
#[derive(Debug)]
pub enum TlsFileError {
    /// The file cannot be read (missing, unreadable, a directory, too large).
    Read {
        /// Which file.
        kind: PemKind,
        /// Its path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file holds no PEM block of the expected kind (`CERTIFICATE`; `PRIVATE KEY`,
    /// `RSA PRIVATE KEY` or `EC PRIVATE KEY`), or a PEM block that does not decode.
    Pem {
        /// Which file.
        kind: PemKind,
        /// Its path.
        path: PathBuf,
        /// What the PEM reader said.
        what: String,
    },
    /// rustls refused the pair: a key of a kind it cannot sign with, a key that does not
    /// belong to the certificate, or a certificate it cannot parse.
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        what: String,
    },
}

impl fmt::Display for TlsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFileError::Read { kind, path, error } => {
                write!(
                    f,
                    "TLS {kind} file {}: cannot read it: {error}",
                    path.display()
                )
            }
            TlsFileError::Pem { kind, path, what } => {
                write!(f, "TLS {kind} file {}: {what}", path.display())
            }
            TlsFileError::Refused { cert, key, what } => write!(
                f,
                "TLS certificate {} and key {} cannot be used together: {what}",
                cert.display(),
                key.display()
            ),
        }
    }
}

impl std::error::Error for TlsFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsFileError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Reads a PEM file of at most [`MAX_PEM_FILE`] bytes.
pub(crate) fn read_pem_file(kind: PemKind, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    let err = |error| TlsFileError::Read {
        kind,
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_PEM_FILE} bytes: not a PEM file"),
        )));
    }
    Ok(bytes)
}

/// Every `CERTIFICATE` block of a PEM file, in order (at least one).
pub(crate) fn certs_from_pem(
    kind: PemKind,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bad = |what: String| TlsFileError::Pem {
        kind,
        path: path.to_path_buf(),
        what,
    };
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| bad(format!("not a valid PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)".into(),
        ));
    }
    Ok(certs)
}

impl LobbyTls {
    /// Reads a PEM certificate chain (the server's certificate first, then any
    /// intermediates) and its PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC), and checks
    /// that they belong together.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<LobbyTls, TlsFileError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = read_pem_file(PemKind::Certificate, cert)?;
        let key_pem = read_pem_file(PemKind::PrivateKey, key)?;
        let chain = certs_from_pem(PemKind::Certificate, cert, &cert_pem)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsFileError::Pem {
            kind: PemKind::PrivateKey,
            path: key.to_path_buf(),
            what: match e {
                pem::Error::NoItemsFound => "holds no PEM private key (no -----BEGIN PRIVATE \
                                             KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)"
                    .into(),
                e => format!("not a valid PEM file ({e})"),
            },
        })?;
        let refused = |what: String| TlsFileError::Refused {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            what,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| refused(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| refused(e.to_string()))?;
        // No resumption: no ticket sent, no session kept per client.
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
        Ok(LobbyTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration it holds (TLS 1.3, the `ring` provider, no resumption),
    /// for a tool that serves another protocol from the same PEM files (the matchmaker's
    /// HTTPS adds its ALPN to a clone).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// A server-side TLS state for a connection just accepted.
    pub(crate) fn accept(&self) -> Result<ServerConnection, rustls::Error> {
        let mut c = ServerConnection::new(self.config.clone())?;
        c.set_buffer_limit(Some(TLS_SEND_LIMIT));
        Ok(c)
    }
}

/// A lobby connection's socket and, over TLS, its TLS state (boxed: a plain connection
/// pays one pointer for it).
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) tcp: TcpStream,
    pub(crate) tls: Option<Box<Tls>>,
}

/// A connection's TLS state.
#[derive(Debug)]
pub(crate) struct Tls {
    pub(crate) conn: ServerConnection,
    /// rustls refused the peer's bytes (a handshake failure, garbage, a bad record): only
    /// the alert rustls queued is still written, nothing else.
    pub(crate) failed: bool,
    /// The handshake completed (counted once).
    pub(crate) established: bool,
}

impl Stream {
    /// A plain TCP connection.
    pub(crate) fn plain(tcp: TcpStream) -> Stream {
        Stream { tcp, tls: None }
    }

    /// A TLS connection with a fresh server state.
    pub(crate) fn tls(tcp: TcpStream, conn: ServerConnection) -> Stream {
        Stream {
            tcp,
            tls: Some(Box::new(Tls {
                conn,
                failed: false,
                established: false,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_larger_than_any_pem_is_refused_without_reading_it_all() {
        // /dev/zero never ends: at most MAX_PEM_FILE + 1 bytes are read.
        match read_pem_file(PemKind::Certificate, Path::new("/dev/zero")) {
            Err(TlsFileError::Read { kind, error, .. }) => {
                assert_eq!(kind, PemKind::Certificate);
                assert!(error.to_string().contains("not a PEM file"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pem_without_certificates_is_named_and_explained() {
        let p = Path::new("x.pem");
        let e = certs_from_pem(PemKind::Ca, p, b"").unwrap_err().to_string();
        assert_eq!(
            e,
            "TLS CA certificate file x.pem: holds no PEM certificate \
             (no -----BEGIN CERTIFICATE----- block)"
        );
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(certs_from_pem(PemKind::Certificate, p, key_only).is_err());
        let e = certs_from_pem(PemKind::Certificate, p, b"-----BEGIN CERTIFICATE-----\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("TLS certificate file x.pem: "), "{e}");
    }
}
