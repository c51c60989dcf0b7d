//! Logging of the binaries on stderr: env_logger's text lines, or one JSON object per line
//! (`--log-format json`) for log collectors (journald, Loki, Elasticsearch...).

use std::io::Write;

/// How log records are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// env_logger's text lines: `[TIMESTAMP LEVEL TARGET] MESSAGE`.
    #[default]
    Text,
    /// One JSON object per line: `{"timestamp":"RFC 3339, UTC","level":"INFO",
    /// "target":"tickwire::io","message":"..."}`.
    Json,
}

/// Starts logging on stderr in `format`, at `RUST_LOG`'s levels (`info` by default).
pub fn init(format: LogFormat) {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    b.format_timestamp_millis();
    if format == LogFormat::Json {
        b.format(|buf, record| {
            // Written by hand to keep the keys in this order; serde_json escapes the values.
            let json = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
            writeln!(
                buf,
                "{{\"timestamp\":{},\"level\":{},\"target\":{},\"message\":{}}}",
                json(&buf.timestamp_millis().to_string()),
                json(record.level().as_str()),
                json(record.target()),
                json(&record.args().to_string()),
            )
        });
    }
    b.init();
}
