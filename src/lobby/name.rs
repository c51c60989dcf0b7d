//! User names: which the lobby accepts, the form it stores, and the key that makes them
//! unique (docs/LOBBY.md, "Names").
//!
//! A name is taken in its NFKC form (UAX #15). NFKC rather than NFC because a name is an
//! identifier read by people, not text whose typography matters: compatibility variants
//! that render like their base (full-width `ａｄｍｉｎ`, ligatures `ﬁ`, superscripts,
//! the ideographic space, NBSP) become that base, so one spelling is stored and shown.
//! UAX #31 and UTS #39 recommend NFKC for identifiers for the same reason.
//!
//! Refused (on the NFKC form): empty; any control, format (which holds the bidi controls,
//! BOM and zero-width characters), surrogate, private-use or unassigned code point; any
//! separator but U+0020 (line and paragraph separators, Ogham space); any default-ignorable
//! code point (the Hangul fillers, variation selectors, combining grapheme joiner...);
//! leading or trailing white space; a first character that is a combining mark (so also a
//! name of nothing but marks); a name whose skeleton is empty or starts or ends with white
//! space (the braille blank). The 16-byte limit applies to the bytes sent (PROTOCOL.md
//! section 7) and again to the NFKC form, which is what is stored, put in the ticket and
//! shown to others (NFKC can lengthen a name: `㎒` is `MHz`).
//!
//! Uniqueness is over [`key`]: the name lowercased and then mapped to its UTS #39 skeleton,
//! repeated until it no longer changes (the skeleton of `0` is `O`, whose lowercase is `o`).
//! So `admin`, `Admin`, `ADMIN`, `аdmin` (Cyrillic а) and `ａｄｍｉｎ` share one key.
//! Lowercasing first is what makes the key case-insensitive; the price is that a confusable
//! that exists only between cases (capital `I` and small `l`) is not caught.

use crate::tickets::{Name, MAX_NAME};
use arrayvec::ArrayString;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_security::skeleton;

/// Most bytes of a [`NameKey`]: skeletons lengthen text (`m` is `rn`; a Hangul syllable
/// becomes jamo and their prototypes, 7 times its bytes at most, checked over every code
/// point by a test), so 8 times a name.
pub(crate) const MAX_KEY: usize = 8 * MAX_NAME;

/// The uniqueness key of a name: one per logged-in user, stored inline.
pub(crate) type NameKey = ArrayString<MAX_KEY>;

/// Rounds of lowercase-then-skeleton [`key`] runs at most before it takes what it has.
const KEY_ROUNDS: usize = 4;

/// The name a LOGIN_REQ asks for, as stored, with its key; `None` when it is refused.
pub(crate) fn accept(raw: &str) -> Option<(Name, NameKey)> {
    if !(1..=MAX_NAME).contains(&raw.len()) {
        return None;
    }
    let mut name = Name::new();
    for c in raw.nfkc() {
        if !allowed(c) {
            return None;
        }
        name.try_push(c).ok()?;
    }
    let first = name.chars().next()?;
    let last = name.chars().next_back()?;
    if first.is_whitespace()
        || last.is_whitespace()
        || first.general_category_group() == GeneralCategoryGroup::Mark
    {
        return None;
    }
    let k = key(&name)?;
    let visible = |c: Option<char>| c.is_some_and(|c| !c.is_whitespace());
    if !visible(k.chars().next()) || !visible(k.chars().next_back()) {
        return None;
    }
    Some((name, k))
}

/// The most bytes of text that NFKC can bring down to a 16-byte name: 4 bytes per
/// character (mathematical letters such as `𝐚`). A WHISPER or INVITE target longer than
/// this names nobody, and is not keyed.
pub(crate) const MAX_TARGET: usize = 4 * MAX_NAME;

/// The uniqueness key of `s` (any text: a name, or the target of a WHISPER or INVITE):
/// NFKC, then lowercase and skeleton until stable. `None` when `s` is longer than
/// [`MAX_TARGET`] or the key would not fit [`MAX_KEY`] (no stored name is that long, so
/// nobody has that key). Allocates nothing for names (the normalizers buffer a few
/// characters inline; only long runs of combining marks would spill).
pub(crate) fn key(s: &str) -> Option<NameKey> {
    if s.len() > MAX_TARGET {
        return None;
    }
    let mut folded = NameKey::new();
    for c in s.nfkc() {
        folded.try_push(c).ok()?;
    }
    let mut next = NameKey::new();
    let mut lower = NameKey::new();
    for _ in 0..KEY_ROUNDS {
        lower.clear();
        for c in folded.chars().flat_map(char::to_lowercase) {
            lower.try_push(c).ok()?;
        }
        next.clear();
        for c in skeleton(&lower) {
            next.try_push(c).ok()?;
        }
        if next == folded {
            break;
        }
        core::mem::swap(&mut next, &mut folded);
    }
    Some(folded)
}

/// Whether `c` may appear in a (normalized) name.
fn allowed(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    match c.general_category_group() {
        GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator => false,
        _ => !default_ignorable(c),
    }
}

/// Whether `c` is a Default_Ignorable_Code_Point. The skeleton drops exactly those (UTS #39
/// section 4: the NFD of a character that is not default-ignorable is never all ignorable,
/// and no prototype is empty), so this asks the crate's own table through it.
fn default_ignorable(c: char) -> bool {
    let mut buf = [0; 4];
    let empty = skeleton(c.encode_utf8(&mut buf)).next().is_none();
    empty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ignorable_matches_the_standard() {
        for c in [
            '\u{AD}',
            '\u{34F}',
            '\u{115F}',
            '\u{1160}',
            '\u{180B}',
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2060}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{E0001}',
            '\u{E0100}',
        ] {
            assert!(default_ignorable(c), "{:X}", c as u32);
        }
        for c in ['a', ' ', '\u{301}', 'я', '\u{2800}', '漢'] {
            assert!(!default_ignorable(c), "{:X}", c as u32);
        }
    }

    #[test]
    fn keys_fold_case_and_confusables() {
        fn k(s: &str) -> NameKey {
            key(s).unwrap()
        }
        assert_eq!(k("admin"), k("ADMIN"));
        assert_eq!(k("admin"), k("\u{430}dmin"));
        assert_eq!(k("admin0"), k("ADMINO"));
        assert_eq!(k("admin0"), k("admino"));
        assert_ne!(k("admin"), k("admix"));
        // The key is stable: keying a key changes nothing.
        for s in ["admin", "Ｗｏｒｌｄ", "mommy", "0O0", "ǅemal", "Straße"] {
            let once = k(s);
            assert_eq!(k(&once), once, "{s}");
        }
    }

    #[test]
    fn targets_longer_than_any_spelling_of_a_name_have_no_key() {
        let bold = "\u{1D41A}".repeat(16); // 16 mathematical bold a: 64 bytes, "aaaa..."
        assert_eq!(key(&bold), key("aaaaaaaaaaaaaaaa"));
        assert_eq!(key(&format!("{bold}a")), None);
    }

    #[test]
    fn no_character_a_name_may_hold_grows_more_than_8_times_in_its_key() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            let s = &*c.encode_utf8(&mut buf);
            if let Some((name, k)) = accept(s) {
                assert!(k.len() <= 7 * s.len(), "U+{:X} {name}", c as u32);
            }
        }
    }

    #[test]
    fn the_longest_names_have_a_key() {
        // Sixteen bytes of the characters whose skeletons grow the most still fit.
        for s in ["mmmmmmmmmmmmmmmm", "ǆǆǆǆǆǆǆǆ", "ＭＭＭＭＭ", "㎒㎒㎒㎒㎒"] {
            assert!(key(s).is_some(), "{s}");
        }
    }
}
