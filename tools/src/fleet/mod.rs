//! The fleet on Redis (docs/FLEET.md): the game servers' registry ([`registry`], the side
//! of `tickwire serve --redis URL`), the matchmaker's atomic seat booking ([`booking`]) and
//! its self-verifying sessions ([`session`]); and the end-to-end run's players
//! ([`players`]).
//!
//! The schema, in one place (docs/FLEET.md, "The Redis schema"):
//!
//! | key | type | what |
//! |---|---|---|
//! | `tw:servers` | set | ids of the servers that wrote a record; readers prune the ids whose record expired |
//! | `tw:server:{id}` | hash | one server's record (fields below), `PEXPIRE`d [`RECORD_TTL`] at every refresh |
//! | `tw:seats:{id}:{m}` | sorted set | reservations on match `m`: member = client id, score = expiry in unix ms (Redis's clock) |
//! | `tw:client-id` | string (counter) | the last client id handed out (`INCRBY`), unique over every matchmaker |
//!
//! Record fields: `id`, `version`, `secure` (`1` or `0`), `state` (`starting`, `ready`,
//! `allocated`, `draining`), `mode` (the server's `--map`), `matches` (K), `updated` (unix
//! ms), and per match `m` in `0..K`: `addr:{m}` (public `IP:PORT`), `cap:{m}`,
//! `players:{m}`.
//!
//! Every write that must be atomic is one Lua script: a server's refresh ([`registry`])
//! and a matchmaker's select-and-reserve ([`booking`]). Both read the time from Redis
//! (`TIME`), so reservations expire on one clock whoever wrote them.

pub mod booking;
pub mod players;
pub mod registry;
pub mod session;

use std::time::Duration;

/// How often a server refreshes its record.
pub const REFRESH: Duration = Duration::from_secs(1);

/// How long a record lives without a refresh: five refresh periods, so a server that died
/// (or lost Redis) drops out of the matchmakers' view within this.
pub const RECORD_TTL: Duration = Duration::from_secs(5);

/// How long a match's reservation set lives without a write: longer than any token, so it
/// outlives the record of a server that came back after a short outage.
pub const SEATS_TTL: Duration = Duration::from_secs(120);

/// The set of server ids.
pub const SERVERS_KEY: &str = "tw:servers";

/// The client-id counter.
pub const CLIENT_ID_KEY: &str = "tw:client-id";

/// The key of server `id`'s record.
pub fn server_key(id: u64) -> String {
    format!("tw:server:{id}")
}

/// The key of match `m`'s reservations on server `id`.
pub fn seats_key(id: u64, m: usize) -> String {
    format!("tw:seats:{id}:{m}")
}

/// A Redis URL with any password replaced by `***`, for logs and errors.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// Opens a connection to `url` with `timeout` for the connect and for every read and
/// write, so a Redis that stopped answering costs at most that per call.
pub fn connect(url: &str, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(url)?;
    let con = client.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    Ok(con)
}

/// Whether `url` parses as a Redis URL (`redis://[user:password@]host[:port][/db]`, or
/// `unix://`/`redis+unix://` a socket path), for the command lines' early checks.
pub fn check_url(url: &str) -> Result<(), String> {
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("{}: not a Redis URL ({e})", redacted(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password() {
        assert_eq!(
            redacted("redis://u:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn checks_urls() {
        assert!(check_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_url("not a url").is_err());
    }
}
