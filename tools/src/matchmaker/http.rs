//! The matchmaker's HTTP/1.1 + JSON API (docs/FLEET.md, "The HTTP API"), on hyper, over
//! TLS (tokio-rustls) or, with `--insecure-http`, plain TCP.
//!
//! | request | answer |
//! |---|---|
//! | `POST /v1/login` `{"name": N}` | 200 `{"session", "name", "expires"}` |
//! | `POST /v1/match` `{"mode": M, "party"?: P}`, `Authorization: Bearer SESSION` | 202 `{"ticket", "status": "queued"}` |
//! | `GET /v1/match/{ticket}[?wait=S]` | 200 `{"status": "queued"}`, `{"status": "assigned", ...}`, `{"status": "failed", "why"}` or `{"status": "cancelled"}` |
//! | `DELETE /v1/match/{ticket}` | 200 `{"status": "cancelled"}` (or what it had come to) |
//! | `GET /v1/stats`, `GET /healthz` | counters; `ok` |

use super::{Matchmaker, OpenError, Status};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Most connections served at once; more are closed at accept.
pub const MAX_CONNS: usize = 4096;
/// Time to send a request's headers (and to finish a TLS handshake).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

type Resp = Response<Full<Bytes>>;

fn reply(code: StatusCode, body: Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(code: StatusCode, why: impl Into<String>) -> Resp {
    reply(code, json!({ "error": why.into() }))
}

/// A refused request, before it becomes its [`Resp`] (small, for `Result`s).
struct Refused(StatusCode, String);

impl Refused {
    fn new(code: StatusCode, why: impl Into<String>) -> Refused {
        Refused(code, why.into())
    }
    fn resp(self) -> Resp {
        error(self.0, self.1)
    }
}

/// Serves connections from `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mm: Arc<Matchmaker>,
) {
    let conns = Arc::new(tokio::sync::Semaphore::new(MAX_CONNS));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log::warn!("matchmaker: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let mm = mm.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = hyper::service::service_fn(move |req| {
                let mm = mm.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(mm, req).await) }
            });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024);
            let res = match tls {
                Some(acc) => match tokio::time::timeout(HEADER_TIMEOUT, acc.accept(tcp)).await {
                    Ok(Ok(s)) => {
                        b.serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                            .await
                    }
                    Ok(Err(e)) => {
                        log::debug!("matchmaker: TLS handshake with {peer}: {e}");
                        return;
                    }
                    Err(_) => return,
                },
                None => {
                    b.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                        .await
                }
            };
            if let Err(e) = res {
                log::debug!("matchmaker: connection from {peer}: {e}");
            }
        });
    }
}

/// Reads a JSON object body of at most `max` bytes.
async fn json_body(req: Request<Incoming>, max: usize) -> Result<Value, Refused> {
    let body = Limited::new(req.into_body(), max)
        .collect()
        .await
        .map_err(|_| {
            Refused::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a request body is at most {max} bytes"),
            )
        })?
        .to_bytes();
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Refused::new(StatusCode::BAD_REQUEST, format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "the body is a JSON object",
        ));
    }
    Ok(v)
}

/// The session's name from `Authorization: Bearer SESSION`.
fn session_name(mm: &Matchmaker, req: &Request<Incoming>) -> Result<String, Refused> {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Refused::new(
                StatusCode::UNAUTHORIZED,
                "log in first (POST /v1/login) and send Authorization: Bearer SESSION",
            )
        })?;
    mm.sessions()
        .check(bearer.trim(), super::unix_now())
        .map(|(name, _)| name.to_string())
        .map_err(|e| Refused::new(StatusCode::UNAUTHORIZED, e.to_string()))
}

fn status_json(s: &Status) -> Value {
    match s {
        Status::Queued => json!({ "status": "queued" }),
        Status::Assigned(a) => json!({
            "status": "assigned",
            "server": a.booking.server,
            "match": a.booking.matched,
            "addr": a.booking.addr,
            "token": a.tokens.first(),
            "tokens": a.tokens,
            "client_ids": a.booking.client_ids,
            "expires": a.expires,
        }),
        Status::Failed(why) => json!({ "status": "failed", "why": why }),
        Status::Cancelled => json!({ "status": "cancelled" }),
    }
}

/// `?wait=S` (0 when absent), capped at the matchmaker's max.
fn wait_param(query: Option<&str>, max: Duration) -> Result<Duration, Refused> {
    let Some(q) = query else {
        return Ok(Duration::ZERO);
    };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("wait=") {
            let s: f64 = v
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| {
                    Refused::new(
                        StatusCode::BAD_REQUEST,
                        "wait= is a number of seconds, 0 or more",
                    )
                })?;
            return Ok(Duration::from_secs_f64(s.min(max.as_secs_f64())));
        }
    }
    Ok(Duration::ZERO)
}

async fn handle(mm: Arc<Matchmaker>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let max_body = mm.settings().max_body;
    match (method, path.as_str()) {
        (Method::GET, "/healthz") => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"ok\n")));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        (Method::GET, "/v1/stats") => {
            let c = &mm.counters;
            reply(
                StatusCode::OK,
                json!({
                    "logins": c.logins.load(Ordering::Relaxed),
                    "tickets": c.tickets.load(Ordering::Relaxed),
                    "assigned": c.assigned.load(Ordering::Relaxed),
                    "failed": c.failed.load(Ordering::Relaxed),
                    "cancelled": c.cancelled.load(Ordering::Relaxed),
                    "scripts": c.scripts.load(Ordering::Relaxed),
                    "refused": c.refused.load(Ordering::Relaxed),
                }),
            )
        }
        (Method::POST, "/v1/login") => {
            let v = match json_body(req, max_body).await {
                Ok(v) => v,
                Err(r) => return r.resp(),
            };
            let Some(name) = v.get("name").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "give {\"name\": \"...\"}");
            };
            // Where a password or an external identity (OAuth, a platform ticket) would be
            // checked before the session is minted (docs/FLEET.md, "Identity").
            if let Err(why) = crate::fleet::session::check_name(name) {
                return error(StatusCode::BAD_REQUEST, why);
            }
            let expires = super::unix_now() + mm.settings().session_lifetime.as_secs();
            mm.counters.logins.fetch_add(1, Ordering::Relaxed);
            reply(
                StatusCode::OK,
                json!({
                    "session": mm.sessions().mint(name, expires),
                    "name": name,
                    "expires": expires,
                }),
            )
        }
        (Method::POST, "/v1/match") => {
            let name = match session_name(&mm, &req) {
                Ok(n) => n,
                Err(r) => return r.resp(),
            };
            let v = match json_body(req, max_body).await {
                Ok(v) => v,
                Err(r) => return r.resp(),
            };
            let Some(mode) = v.get("mode").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, "give {\"mode\": \"...\"}");
            };
            if mode.is_empty() || mode.len() > 64 {
                return error(StatusCode::BAD_REQUEST, "a mode is 1 to 64 bytes");
            }
            let party = match v.get("party") {
                None | Some(Value::Null) => 1,
                Some(p) => match p.as_u64().and_then(|p| u32::try_from(p).ok()) {
                    Some(p) => p,
                    None => {
                        return error(StatusCode::BAD_REQUEST, "party is a whole number of seats")
                    }
                },
            };
            match mm.open(&name, mode, party) {
                Ok(ticket) => reply(
                    StatusCode::ACCEPTED,
                    json!({ "ticket": ticket, "status": "queued" }),
                ),
                Err(OpenError::BadParty(p)) => error(
                    StatusCode::BAD_REQUEST,
                    format!("party {p}: give 1 to {} seats", mm.settings().max_party),
                ),
                Err(OpenError::Busy(why)) => error(StatusCode::SERVICE_UNAVAILABLE, why),
            }
        }
        (m, p) if p.starts_with("/v1/match/") => {
            let ticket = &p["/v1/match/".len()..];
            let name = match session_name(&mm, &req) {
                Ok(n) => n,
                Err(r) => return r.resp(),
            };
            match m {
                Method::GET => {
                    let wait = match wait_param(req.uri().query(), mm.settings().max_wait) {
                        Ok(w) => w,
                        Err(r) => return r.resp(),
                    };
                    get_ticket(&mm, ticket, &name, wait).await
                }
                Method::DELETE => {
                    // Giving seats back is a Redis call: off the runtime's workers.
                    let (mm, ticket) = (mm.clone(), ticket.to_string());
                    match tokio::task::spawn_blocking(move || mm.cancel(&ticket, &name)).await {
                        Ok(Some(s)) => reply(StatusCode::OK, status_json(&s)),
                        Ok(None) => error(StatusCode::NOT_FOUND, "no such ticket"),
                        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cancel failed"),
                    }
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "GET or DELETE a ticket"),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "no such endpoint (see docs/FLEET.md)",
        ),
    }
}

async fn get_ticket(mm: &Arc<Matchmaker>, ticket: &str, name: &str, wait: Duration) -> Resp {
    let Some((status, mut changed)) = mm.status(ticket, name) else {
        return error(StatusCode::NOT_FOUND, "no such ticket");
    };
    if status != Status::Queued || wait.is_zero() {
        return reply(StatusCode::OK, status_json(&status));
    }
    // Long-poll, when a slot is free; otherwise answer at once.
    let Some(_slot) = mm.waiter() else {
        return reply(StatusCode::OK, status_json(&status));
    };
    let _ = tokio::time::timeout(wait, changed.changed()).await;
    match mm.status(ticket, name) {
        Some((s, _)) => reply(StatusCode::OK, status_json(&s)),
        None => error(StatusCode::NOT_FOUND, "no such ticket"),
    }
}
