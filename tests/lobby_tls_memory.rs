//! What one idle TLS connection of the lobby costs in heap, measured with a counting
//! allocator (a binary of its own, so the other TLS tests run on the plain allocator).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use tickwire::lobby::LobbyTls;

/// A self-signed certificate for `localhost` and its key, as PEM files in a directory of
/// this test's own (removed at the end).
fn self_signed() -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tickwire-lobby-tls-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (dir, cert, key)
}

/// Counts the heap bytes live that the current thread allocated while counting is on (a
/// net count: frees subtract), so that the other tests of this binary do not disturb it.
mod bytes {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static NET: Cell<i64> = const { Cell::new(0) };
    }

    fn add(n: i64) {
        if ON.with(|o| o.get()) {
            NET.with(|c| c.set(c.get() + n));
        }
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            add(l.size() as i64);
            System.alloc(l)
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            add(-(l.size() as i64));
            System.dealloc(p, l)
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            add(new as i64 - l.size() as i64);
            System.realloc(p, l, new)
        }
    }

    /// Runs `f` with counting on.
    pub fn counted<R>(f: impl FnOnce() -> R) -> R {
        ON.with(|o| o.set(true));
        let r = f();
        ON.with(|o| o.set(false));
        r
    }

    /// Net bytes counted so far on this thread.
    pub fn net() -> i64 {
        NET.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOC: bytes::Counting = bytes::Counting;

/// What one idle TLS connection's rustls state holds after its handshake and a few
/// full-size lobby frames each way (the lobby's settings: TLS 1.3, no tickets, no
/// session cache, a 16 KiB limit on queued records): about 11 KiB here, well under the
/// 72 KiB of rings every lobby connection has anyway. Printed for docs/LOBBY.md.
#[test]
fn an_idle_tls_connection_costs_a_bounded_few_kib() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (dir, cert, key) = self_signed();
    // The same checks the lobby makes of the pair.
    LobbyTls::from_pem_files(&cert, &key).expect("tls");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut scfg = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_file(&cert).unwrap()],
            PrivateKeyDer::from_pem_file(&key).unwrap(),
        )
        .unwrap();
    scfg.send_tls13_tickets = 0;
    scfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let scfg = Arc::new(scfg);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert).unwrap())
        .unwrap();
    let ccfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client =
        rustls::ClientConnection::new(Arc::new(ccfg), "localhost".try_into().unwrap()).unwrap();

    let before = bytes::net();
    let mut server = bytes::counted(|| {
        let mut s = rustls::ServerConnection::new(scfg.clone()).unwrap();
        s.set_buffer_limit(Some(16 * 1024));
        s
    });
    let frame = [7u8; 4096];
    let mut plain = vec![0u8; 8192];
    for round in 0..20 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        bytes::counted(|| {
            let mut rest = &wire[..];
            while !rest.is_empty() {
                server.read_tls(&mut rest).unwrap();
                server.process_new_packets().unwrap();
                while let Ok(n) = server.reader().read(&mut plain) {
                    if n == 0 {
                        break;
                    }
                }
            }
        });
        // Allocated outside the count: only the server's own memory is counted.
        let mut back = Vec::with_capacity(1 << 16);
        bytes::counted(|| {
            if !server.is_handshaking() && round > 2 {
                server.writer().write_all(&frame).unwrap();
            }
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
        });
        let mut rest = &back[..];
        while !rest.is_empty() {
            client.read_tls(&mut rest).unwrap();
            client.process_new_packets().unwrap();
            while let Ok(n) = client.reader().read(&mut plain) {
                if n == 0 {
                    break;
                }
            }
        }
        if !client.is_handshaking() && round > 2 {
            client.writer().write_all(&frame).unwrap();
        }
    }
    assert!(!server.is_handshaking(), "the handshake completed");
    let heap = bytes::net() - before;
    let inline = std::mem::size_of::<rustls::ServerConnection>() as i64;
    println!(
        "an idle TLS connection: {heap} heap bytes + {inline} bytes of ServerConnection \
         (boxed), on top of a plain connection's rings"
    );
    assert!(heap > 0);
    assert!(
        heap + inline < 32 * 1024,
        "{heap} + {inline} bytes per idle TLS connection"
    );
    let _ = std::fs::remove_dir_all(dir);
}
