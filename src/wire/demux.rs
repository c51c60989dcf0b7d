//! The game port carries three protocols; their first bytes tell them apart.

/// Which protocol a datagram on the game port belongs to (PROTOCOL.md, top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demux {
    /// Source A2S server query.
    Query,
    /// STUN Binding.
    Stun,
    /// Game datagram.
    Game,
}

/// Tells the three protocols of the game port apart by their first bytes.
#[inline]
pub fn demux(d: &[u8]) -> Demux {
    if d.len() >= 4 && d[..4] == [0xFF; 4] {
        Demux::Query
    } else if d.len() >= 8 && d[0] <= 0x01 && d[4..8] == [0x21, 0x12, 0xA4, 0x42] {
        Demux::Stun
    } else {
        Demux::Game
    }
}
