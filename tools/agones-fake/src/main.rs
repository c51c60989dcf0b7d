//! dummy-agones on a free port of 127.0.0.1: prints `dummy-agones port=PORT` on stdout,
//! then dummy-agones' own log lines (`Got ready call`, `Got health message`, `Got
//! shutdown call`, `Got set_label call k=.. v=..`), until killed. `GET /` on the port is
//! the GameServer as YAML; `POST /` with YAML sets it (and the SDK's watchers see it).

use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .init();
    let port = dummy_agones::Server::default()
        .spawn_on_random_port()
        .await?;
    let mut out = std::io::stdout();
    writeln!(out, "dummy-agones port={port}")?;
    out.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}
