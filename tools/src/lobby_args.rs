//! Lobby flags of the server's command line, and the hook that gives the lobby its TLS
//! certificate and, in secure mode, its token issuer ([`LobbyArgs::secure_lobby`]).

use std::path::PathBuf;
use std::time::Duration;
use tickwire::lobby::{LobbyConfig, LobbyTls};
use tickwire::secure::{Issuer, Key};
use tickwire::HostConfig;

/// Lobby flags, to flatten into the server's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct LobbyArgs {
    /// Most open lobby connections (also the most logged-in users).
    #[arg(long = "lobby-max-conns", default_value_t = 1024)]
    pub max_conns: usize,
    /// Most open lobby connections from one IP address.
    #[arg(long = "lobby-max-conns-per-ip", default_value_t = 16)]
    pub max_conns_per_ip: usize,
    /// Most lobby rooms at once.
    #[arg(long = "lobby-max-rooms", default_value_t = 256)]
    pub max_rooms: usize,
    /// Close a lobby connection that completes no frame for this many milliseconds.
    #[arg(long = "lobby-idle-timeout-ms", default_value_t = 300_000)]
    pub idle_timeout_ms: u64,
    /// Close a lobby connection that takes longer than this many milliseconds to finish a
    /// frame it started.
    #[arg(long = "lobby-frame-deadline-ms", default_value_t = 10_000)]
    pub frame_deadline_ms: u64,
    /// Close a lobby connection that has not logged in this many milliseconds after it
    /// was accepted.
    #[arg(long = "lobby-login-deadline-ms", default_value_t = 10_000)]
    pub login_deadline_ms: u64,
    /// Percent of --lobby-max-conns that connections not logged in may hold (1..=100);
    /// beyond it, or when the lobby is full, a newcomer sheds the oldest of them.
    #[arg(long = "lobby-unauthenticated-share", default_value_t = 50)]
    pub unauthenticated_share: u8,
    /// Bytes queued per lobby connection before a slow reader is cut off (at least 4096,
    /// the largest lobby frame).
    #[arg(long = "lobby-send-buffer", default_value_t = 65_536, value_parser = parse_send_buffer)]
    pub send_buffer: usize,
    /// Requests that reach other users (chat, whisper, invite, room enter and leave) and
    /// token requests one lobby user may send per second on average; more get 10 bad
    /// request (0: no limit).
    #[arg(long = "lobby-user-rate", default_value_t = 10)]
    pub user_rate: u32,
    /// How many of those requests a lobby user may send at once above that rate.
    #[arg(long = "lobby-user-burst", default_value_t = 20)]
    pub user_burst: u32,
    /// Serve the lobby over TLS 1.3 with this PEM certificate chain (the server's
    /// certificate first, then any intermediates); needs --lobby-tls-key. Every lobby
    /// client must then speak TLS. In secure mode the lobby also issues connect tokens
    /// (TOKEN_REQ) for this server, which it never does over plain TCP.
    #[arg(long = "lobby-tls-cert", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, RSA or EC) of --lobby-tls-cert; needs --lobby-tls-cert.
    #[arg(long = "lobby-tls-key", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

/// The largest lobby frame: a connection's send buffer must hold one.
const MIN_SEND_BUFFER: usize = 4096;

/// `--lobby-send-buffer`: refused below [`MIN_SEND_BUFFER`] instead of silently raised.
fn parse_send_buffer(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e} (bytes)"))?;
    if n < MIN_SEND_BUFFER {
        return Err(format!(
            "{n} bytes cannot hold one lobby frame: give at least {MIN_SEND_BUFFER}"
        ));
    }
    Ok(n)
}

/// What secure mode gives the lobby: the fleet key (`--token-key FILE`) and the server id
/// (`--server-id N`, 0 for none) the lobby issues connect tokens for.
#[derive(Debug, Clone)]
pub struct LobbyIssuing {
    /// The fleet key.
    pub fleet_key: Key,
    /// The game server the lobby issues for (0: none; tokens are then scoped 0).
    pub server_id: u64,
}

impl LobbyArgs {
    /// The lobby's TLS certificate and key from --lobby-tls-cert and --lobby-tls-key
    /// (both or neither), read and checked now; `None` for plain TCP.
    pub fn tls(&self) -> Result<Option<LobbyTls>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => LobbyTls::from_pem_files(cert, key)
                .map(Some)
                .map_err(|e| format!("the lobby's TLS: {e}")),
            (Some(_), None) => Err("--lobby-tls-cert needs --lobby-tls-key (the certificate's \
                                    private key, a PEM file)"
                .into()),
            (None, Some(_)) => Err("--lobby-tls-key needs --lobby-tls-cert (the PEM \
                                    certificate chain it belongs to)"
                .into()),
        }
    }

    /// The hook of `tickwire serve`: gives the lobby of `host` (if it runs one) its TLS
    /// from --lobby-tls-cert and --lobby-tls-key, and, with `secure` (`--secure`: the fleet
    /// key of --token-key and the --server-id), an [`Issuer`] of the fleet key and
    /// `host.server.protocol_id`, issuing for that server id. Call it once, after the
    /// host's configuration is built and before `Host::bind`. Errors are one line for the
    /// operator (which flag, which file, what is wrong).
    pub fn secure_lobby(
        &self,
        host: &mut HostConfig,
        secure: Option<LobbyIssuing>,
    ) -> Result<(), String> {
        let tls = self.tls()?;
        let Some((_, lobby)) = host.lobby.as_mut() else {
            if tls.is_some() {
                log::warn!("--lobby-tls-cert is given but the lobby is off (--lobby off)");
            }
            return Ok(());
        };
        if secure.is_some() && tls.is_none() {
            log::warn!(
                "secure mode with a plain-TCP lobby: it issues no connect tokens (TOKEN_REQ \
                 gets 10); give --lobby-tls-cert and --lobby-tls-key to issue them"
            );
        }
        lobby.tls = tls;
        if let Some(s) = secure {
            lobby.sessions = Some(tickwire::secure::Sessions::new(&s.fleet_key));
            lobby.issuer = Some(Issuer::new(s.fleet_key, host.server.protocol_id));
            lobby.server_id = s.server_id;
        }
        Ok(())
    }

    /// The configuration these flags describe, without TLS and issuer (see
    /// [`LobbyArgs::secure_lobby`]).
    pub fn config(&self) -> LobbyConfig {
        LobbyConfig {
            max_conns: self.max_conns,
            max_conns_per_ip: self.max_conns_per_ip,
            max_rooms: self.max_rooms,
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            frame_deadline: Duration::from_millis(self.frame_deadline_ms),
            login_deadline: Duration::from_millis(self.login_deadline_ms),
            unauthenticated_share: self.unauthenticated_share,
            send_buffer_bytes: self.send_buffer,
            user_msgs_per_sec: self.user_rate,
            user_msg_burst: self.user_burst,
            ..LobbyConfig::default()
        }
        .sanitized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        lobby: LobbyArgs,
    }

    fn host(args: &LobbyArgs) -> HostConfig {
        let mut h = HostConfig {
            lobby: Some(("127.0.0.1:0".parse().unwrap(), args.config())),
            ..HostConfig::default()
        };
        h.server.protocol_id = 77;
        h
    }

    #[test]
    fn the_hook_gives_the_lobby_an_issuer_of_the_fleet_key_and_protocol_id() {
        let cli = Cli::parse_from(["t"]);
        let mut h = host(&cli.lobby);
        let fleet = Key::from_bytes([2; 32]);
        let issuing = LobbyIssuing {
            fleet_key: fleet.clone(),
            server_id: 5,
        };
        cli.lobby.secure_lobby(&mut h, Some(issuing)).unwrap();
        let (_, l) = h.lobby.unwrap();
        assert_eq!(l.server_id, 5);
        assert!(l.tls.is_none(), "no TLS files, no TLS");
        let issuer = l.issuer.expect("an issuer");
        assert_eq!(issuer.protocol_id(), 77);
        let t = issuer.mint(1, 5, "a", 100);
        assert_eq!(Issuer::new(fleet.clone(), 77).open(&t).unwrap().scope, 5);
        // Its sessions are the fleet's: a matchmaker's session checks.
        let session = tickwire::secure::Sessions::new(&fleet).mint("ann", 200);
        let sessions = l.sessions.expect("a session checker");
        assert_eq!(sessions.check(&session, 100).unwrap().0.as_str(), "ann");
        // Not secure: no issuer. The lobby off: nothing to give, no error.
        let mut h = host(&cli.lobby);
        cli.lobby.secure_lobby(&mut h, None).unwrap();
        assert!(h.lobby.unwrap().1.issuer.is_none());
        let mut off = HostConfig::default();
        cli.lobby.secure_lobby(&mut off, None).unwrap();
        assert!(off.lobby.is_none());
    }

    #[test]
    fn tls_files_come_both_or_neither() {
        let one = Cli::parse_from(["t", "--lobby-tls-cert", "c.pem"]);
        let e = one.lobby.tls().unwrap_err();
        assert!(e.contains("--lobby-tls-cert needs --lobby-tls-key"), "{e}");
        let other = Cli::parse_from(["t", "--lobby-tls-key", "k.pem"]);
        let e = other.lobby.tls().unwrap_err();
        assert!(e.contains("--lobby-tls-key needs --lobby-tls-cert"), "{e}");
        let missing = Cli::parse_from([
            "t",
            "--lobby-tls-cert",
            "/nonexistent/c.pem",
            "--lobby-tls-key",
            "/nonexistent/k.pem",
        ]);
        let e = missing.lobby.tls().unwrap_err();
        assert!(
            e.contains("/nonexistent/c.pem") && e.contains("cannot read"),
            "{e}"
        );
        assert!(Cli::parse_from(["t"]).lobby.tls().unwrap().is_none());
    }
}
