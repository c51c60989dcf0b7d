//! The matchmaker's seat booking: one Lua script selects a server and reserves its seats
//! atomically, so any number of matchmakers on one Redis never book a seat twice.
//!
//! The script, run by Redis as one step (no other command runs in between):
//!
//! 1. reads the time from Redis (`TIME`), the one clock of every reservation;
//! 2. walks `tw:servers`, pruning the ids whose record expired;
//! 3. keeps the servers that are `ready` or `allocated`, secure, and of the asked mode;
//! 4. on each of their matches drops the expired reservations and counts the seats in use
//!    (players the server reported plus live reservations) against the capacity;
//! 5. picks, among the matches with room for the whole party, the one on the fullest
//!    server (most seats in use over all its matches), then the fullest match, then the
//!    lowest server id and match: servers fill before another one gets players;
//! 6. hands out `party` client ids from `tw:client-id` and adds them to the match's
//!    reservations, scored with their expiry. A missing counter (a new Redis, or one that
//!    lost its data) starts at Redis's unix ms times 1000, above every id handed out
//!    before, so a new booking never shares an id with a player still connected.
//!
//! A player who joins is moved from the reservations to the players by the server's own
//! refresh script (docs/FLEET.md); a reservation nobody redeems expires with its token.

use super::{seats_key, server_key, SEATS_TTL, SERVERS_KEY};
use std::collections::HashMap;
use std::time::Duration;

/// ARGV: mode, party, lifetime ms, seats ttl ms. Returns {1, id, m, addr, first client id,
/// expiry ms} or {0, why}.
const BOOK_LUA: &str = r"
local mode = ARGV[1]
local party = tonumber(ARGV[2])
local life = tonumber(ARGV[3])
local seats_ttl = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local best = nil
local seen = 0
for _, id in ipairs(redis.call('SMEMBERS', 'tw:servers')) do
  local h = redis.call('HGETALL', 'tw:server:' .. id)
  if #h == 0 then
    redis.call('SREM', 'tw:servers', id)
  else
    local f = {}
    for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
    if (f.state == 'ready' or f.state == 'allocated') and f.secure == '1' and f.mode == mode then
      seen = seen + 1
      local total = 0
      local cand = {}
      for m = 0, (tonumber(f.matches) or 0) - 1 do
        local seats = 'tw:seats:' .. id .. ':' .. m
        redis.call('ZREMRANGEBYSCORE', seats, '-inf', now)
        local used = (tonumber(f['players:' .. m]) or 0) + redis.call('ZCARD', seats)
        total = total + used
        cand[#cand + 1] = {m, used, tonumber(f['cap:' .. m]) or 0, f['addr:' .. m]}
      end
      local nid = tonumber(id)
      for _, c in ipairs(cand) do
        if c[3] - c[2] >= party and c[4] then
          local better = best == nil or total > best.total
            or (total == best.total and c[2] > best.used)
            or (total == best.total and c[2] == best.used and nid < best.nid)
            or (total == best.total and c[2] == best.used and nid == best.nid and c[1] < best.m)
          if better then
            best = {id = id, nid = nid, m = c[1], used = c[2], total = total, addr = c[4]}
          end
        end
      end
    end
  end
end
if best == nil then
  if seen == 0 then return {0, 'no ready server of this mode'} end
  return {0, 'no server of this mode has room for the party'}
end
if redis.call('EXISTS', 'tw:client-id') == 0 then
  redis.call('SET', 'tw:client-id', now * 1000)
end
local last = redis.call('INCRBY', 'tw:client-id', party)
local first = last - party + 1
local exp = now + life
local seats = 'tw:seats:' .. best.id .. ':' .. best.m
for i = 0, party - 1 do
  redis.call('ZADD', seats, exp, first + i)
end
if redis.call('PTTL', seats) < seats_ttl then redis.call('PEXPIRE', seats, seats_ttl) end
return {1, best.id, best.m, best.addr, first, exp}
";

/// Seats reserved for a party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The server's id (the tokens' scope).
    pub server: u64,
    /// The match on that server.
    pub matched: usize,
    /// The match's public address.
    pub addr: String,
    /// The party's client ids, one per seat.
    pub client_ids: Vec<u64>,
    /// When the reservations lapse, unix ms on Redis's clock.
    pub expires_ms: u64,
}

/// Why no seat was booked.
#[derive(Debug)]
pub enum BookError {
    /// No server has room now (the reason, from the script); worth retrying.
    NoSeat(String),
    /// Redis failed or did not answer.
    Redis(redis::RedisError),
}

impl std::fmt::Display for BookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BookError::NoSeat(why) => f.write_str(why),
            BookError::Redis(e) => write!(f, "fleet registry unreachable: {e}"),
        }
    }
}

impl From<redis::RedisError> for BookError {
    fn from(e: redis::RedisError) -> Self {
        BookError::Redis(e)
    }
}

/// The booking script, loaded once per connection (EVALSHA, falling back to EVAL).
#[derive(Debug)]
pub struct Booker {
    script: redis::Script,
}

impl Default for Booker {
    fn default() -> Self {
        Booker {
            script: redis::Script::new(BOOK_LUA),
        }
    }
}

impl Booker {
    /// Reserves `party` seats on one match of a ready server of `mode`, for `lifetime`.
    pub fn book(
        &self,
        con: &mut redis::Connection,
        mode: &str,
        party: u32,
        lifetime: Duration,
    ) -> Result<Booking, BookError> {
        let v: redis::Value = self
            .script
            .arg(mode)
            .arg(party.max(1))
            .arg(lifetime.as_millis() as u64)
            .arg(SEATS_TTL.as_millis().max(lifetime.as_millis() * 2) as u64)
            .invoke(con)?;
        parse_reply(v, party.max(1))
    }
}

fn parse_reply(v: redis::Value, party: u32) -> Result<Booking, BookError> {
    use redis::FromRedisValue;
    let items: Vec<redis::Value> = Vec::from_redis_value(&v)?;
    let ok: i64 = items
        .first()
        .map(i64::from_redis_value)
        .transpose()?
        .unwrap_or(0);
    if ok != 1 || items.len() < 6 {
        let why = items
            .get(1)
            .map(String::from_redis_value)
            .transpose()?
            .unwrap_or_else(|| "no seat".into());
        return Err(BookError::NoSeat(why));
    }
    let server = u64::from_redis_value(&items[1])?;
    let matched = u64::from_redis_value(&items[2])? as usize;
    let addr = String::from_redis_value(&items[3])?;
    let first = u64::from_redis_value(&items[4])?;
    let expires_ms = u64::from_redis_value(&items[5])?;
    Ok(Booking {
        server,
        matched,
        addr,
        client_ids: (first..first + u64::from(party)).collect(),
        expires_ms,
    })
}

/// Gives back a booking's seats (a cancelled ticket).
pub fn release(con: &mut redis::Connection, b: &Booking) -> redis::RedisResult<()> {
    redis::cmd("ZREM")
        .arg(seats_key(b.server, b.matched))
        .arg(&b.client_ids)
        .query(con)
}

/// One server's record as read back (for tests, tools and the docs' examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its id.
    pub id: u64,
    /// Its fields, as stored.
    pub fields: HashMap<String, String>,
    /// Live reservations per match.
    pub reserved: Vec<u64>,
}

impl Record {
    /// A numeric field (0 when missing).
    pub fn num(&self, field: &str) -> u64 {
        self.fields
            .get(field)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A text field ("" when missing).
    pub fn text(&self, field: &str) -> &str {
        self.fields.get(field).map_or("", String::as_str)
    }
}

/// Every live record, by id (expired ones are skipped, not pruned).
pub fn read_fleet(con: &mut redis::Connection) -> redis::RedisResult<Vec<Record>> {
    let ids: Vec<u64> = redis::cmd("SMEMBERS").arg(SERVERS_KEY).query(con)?;
    let mut out = Vec::new();
    for id in ids {
        let fields: HashMap<String, String> =
            redis::cmd("HGETALL").arg(server_key(id)).query(con)?;
        if fields.is_empty() {
            continue;
        }
        let k: usize = fields
            .get("matches")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut reserved = Vec::with_capacity(k);
        for m in 0..k {
            let n: u64 = redis::cmd("ZCARD").arg(seats_key(id, m)).query(con)?;
            reserved.push(n);
        }
        out.push(Record {
            id,
            fields,
            reserved,
        });
    }
    out.sort_by_key(|r| r.id);
    Ok(out)
}
