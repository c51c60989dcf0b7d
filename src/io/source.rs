//! The host's event sources and the tokens they are registered under.
//!
//! Every source gets its tokens from one allocator, [`Sources`], which remembers what each
//! token is for; the loop dispatches an event by looking its token up (mio's
//! `examples/udp_server.rs`: one named token per source, the unexpected one logged). A
//! source may take a run of consecutive tokens (the lobby: its listener, then one per
//! connection slot). Tokens are handed out in increasing order and never reused, so the
//! lookup is a binary search over a handful of runs, with no allocation.

use mio::Token;

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The tick timerfd.
    Timer,
    /// SIGINT, SIGTERM and SIGHUP.
    Signals,
    /// The waker of [`Stopper`](super::Stopper).
    Waker,
    /// Match `i`'s UDP socket.
    Match(usize),
    /// The lobby's listener (first token of its run) and its connections.
    Lobby,
    /// A source of adapter `i` ([`Host::add_adapter`](super::Host::add_adapter)).
    Adapter(usize),
}

/// One run of tokens.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: usize,
    len: usize,
    source: Source,
}

/// The token allocator and dispatch table.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    runs: Vec<Run>,
    next: usize,
}

impl Sources {
    /// An empty table; the first token handed out is `Token(0)`.
    pub(crate) fn new() -> Sources {
        Sources::default()
    }

    /// A new token for `source`.
    pub(crate) fn add(&mut self, source: Source) -> Token {
        self.add_run(source, 1)
    }

    /// `len` (at least 1) new consecutive tokens for `source`; returns the first.
    pub(crate) fn add_run(&mut self, source: Source, len: usize) -> Token {
        let first = self.next;
        let len = len.max(1);
        self.next = first.saturating_add(len);
        match self.runs.last_mut() {
            // Consecutive tokens of one source share a run (the matches' sockets).
            Some(r) if r.first + r.len == first && continues(r, source) => r.len += len,
            _ => self.runs.push(Run { first, len, source }),
        }
        Token(first)
    }

    /// What `token` belongs to, `None` for a token never handed out.
    pub(crate) fn get(&self, token: Token) -> Option<Source> {
        let t = token.0;
        let i = self.runs.partition_point(|r| r.first <= t).checked_sub(1)?;
        let r = self.runs.get(i)?;
        if t - r.first >= r.len {
            return None;
        }
        // A run of matches holds one match per token.
        Some(match r.source {
            Source::Match(m) => Source::Match(m + (t - r.first)),
            s => s,
        })
    }
}

/// Whether `source` is the next match after run `r` of matches (the matches' sockets are
/// numbered on, one token each, in one run).
fn continues(r: &Run, source: Source) -> bool {
    matches!((r.source, source), (Source::Match(a), Source::Match(b)) if b == a + r.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_back_to_their_sources() {
        let mut s = Sources::new();
        let timer = s.add(Source::Timer);
        let m: Vec<Token> = (0..3).map(|i| s.add(Source::Match(i))).collect();
        let lobby = s.add_run(Source::Lobby, 5);
        let waker = s.add(Source::Waker);
        let a = s.add(Source::Adapter(0));
        assert_eq!(s.get(timer), Some(Source::Timer));
        for (i, t) in m.iter().enumerate() {
            assert_eq!(s.get(*t), Some(Source::Match(i)));
        }
        for k in 0..5 {
            assert_eq!(s.get(Token(lobby.0 + k)), Some(Source::Lobby));
        }
        assert_eq!(s.get(waker), Some(Source::Waker));
        assert_eq!(s.get(a), Some(Source::Adapter(0)));
        assert_eq!(s.next, 1 + 3 + 5 + 2);
        assert_eq!(s.get(Token(s.next)), None);
        assert_eq!(s.get(Token(usize::MAX)), None);
        // Three matches, one run.
        assert_eq!(s.runs.len(), 5);
    }

    #[test]
    fn empty_table_knows_nothing() {
        assert_eq!(Sources::new().get(Token(0)), None);
    }
}
