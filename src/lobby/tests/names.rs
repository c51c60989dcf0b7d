//! Look-alike and invisible names (issue 11 item 9): every name the attack battery got in
//! next to "admin", and ordinary names in many scripts, on the core with injected time.

use super::{Message, Request, Status, H};
use crate::lobby::LobbyConfig;

fn login_status(h: &mut H, name: &str) -> Status {
    let id = h.open();
    let status = match h.req(id, Request::Login { name }).as_slice() {
        [Message::LoginRes { result, .. }] => *result,
        other => panic!("{name:?}: {other:?}"),
    };
    if status != Status::Ok {
        h.core.close(id, crate::lobby::CloseReason::PeerClosed);
        h.pump();
    }
    status
}

/// Each of these got in next to "admin" before; none does now.
const ATTACKS: &[(&str, &str, Status)] = &[
    ("upper case", "Admin", Status::NameTaken),
    ("all caps", "ADMIN", Status::NameTaken),
    ("zero-width space", "admin\u{200B}", Status::BadName),
    ("zero-width space inside", "ad\u{200B}min", Status::BadName),
    ("zero-width joiner", "ad\u{200D}min", Status::BadName),
    ("word joiner", "\u{2060}admin", Status::BadName),
    ("BOM", "\u{FEFF}admin", Status::BadName),
    ("soft hyphen", "ad\u{AD}min", Status::BadName),
    ("leading space", " admin", Status::BadName),
    ("trailing space", "admin ", Status::BadName),
    ("spaces around", " admin ", Status::BadName),
    (
        "no-break space (NFKC: space)",
        "\u{A0}admin",
        Status::BadName,
    ),
    ("ideographic space", "admin\u{3000}", Status::BadName),
    ("tab", "admin\t", Status::BadName),
    ("NUL", "admin\u{0}", Status::BadName),
    ("line separator", "ad\u{2028}min", Status::BadName),
    ("Cyrillic a", "\u{430}dmin", Status::NameTaken),
    ("Cyrillic a and i", "\u{430}dm\u{456}n", Status::NameTaken),
    ("dotless i", "adm\u{131}n", Status::NameTaken),
    (
        "full-width",
        "\u{FF41}\u{FF44}\u{FF4D}\u{FF49}\u{FF4E}",
        Status::NameTaken,
    ),
    (
        "full-width caps",
        "\u{FF21}\u{FF24}\u{FF2D}\u{FF29}\u{FF2E}",
        Status::NameTaken,
    ),
    ("mathematical bold i", "adm\u{1D422}n", Status::NameTaken),
    ("right-to-left override", "\u{202E}nimda", Status::BadName),
    (
        "right-to-left override, closed",
        "\u{202E}nimda\u{202C}",
        Status::BadName,
    ),
    (
        "right-to-left isolate",
        "\u{2067}admin\u{2069}",
        Status::BadName,
    ),
    ("right-to-left mark", "admin\u{200F}", Status::BadName),
    ("variation selector", "admin\u{FE0F}", Status::BadName),
    ("combining grapheme joiner", "ad\u{34F}min", Status::BadName),
    ("tag characters", "admin\u{E0061}", Status::BadName),
    ("private use", "admin\u{E000}", Status::BadName),
    ("unassigned", "admin\u{378}", Status::BadName),
    (
        "only zero-width",
        "\u{200B}\u{200C}\u{200D}",
        Status::BadName,
    ),
    (
        "only combining marks",
        "\u{301}\u{301}\u{308}",
        Status::BadName,
    ),
    ("leading combining mark", "\u{301}admin", Status::BadName),
    ("Hangul filler", "\u{3164}", Status::BadName),
    (
        "half-width Hangul filler",
        "\u{FFA0}\u{FFA0}",
        Status::BadName,
    ),
    ("braille blank", "\u{2800}", Status::BadName),
    ("braille blank after", "admin\u{2800}", Status::BadName),
    ("empty", "", Status::BadName),
    // 3 bytes sent, 33 bytes of NFKC: the limit also holds for what would be stored.
    (
        "longer than 16 bytes once normalized",
        "\u{FDFA}",
        Status::BadName,
    ),
    (
        "longer than 16 bytes as sent",
        "admin-----------x",
        Status::BadName,
    ),
];

#[test]
fn look_alike_and_invisible_names_are_refused() {
    let mut h = H::new(LobbyConfig::default());
    h.login("admin");
    for &(what, name, want) in ATTACKS {
        assert_eq!(login_status(&mut h, name), want, "{what}: {name:?}");
    }
    h.pump();
    assert_eq!(h.core.stats().users, 1);
}

#[test]
fn the_first_of_two_look_alikes_holds_the_name_whichever_it_is() {
    let mut h = H::new(LobbyConfig::default());
    let (cyrillic, _) = h.login("\u{430}dmin");
    assert_eq!(login_status(&mut h, "admin"), Status::NameTaken);
    assert_eq!(login_status(&mut h, "ADMIN"), Status::NameTaken);
    // Once it logs out the name is free again, in any of its spellings.
    h.core
        .close(cyrillic, crate::lobby::CloseReason::PeerClosed);
    h.pump();
    h.login("Admin");
    assert_eq!(login_status(&mut h, "admin"), Status::NameTaken);
}

#[test]
fn names_are_stored_in_nfkc_and_targets_resolve_by_key() {
    let mut h = H::new(LobbyConfig::default());
    let (a, _) = h.login("admin");
    // Full-width letters are stored as their ASCII: the ticket and the NTFs carry that.
    let b = h.open();
    let ticket = match h
        .req(
            b,
            Request::Login {
                name: "\u{FF42}\u{FF4F}\u{FF42}",
            },
        )
        .as_slice()
    {
        [Message::LoginRes {
            result: Status::Ok,
            ticket,
            ..
        }] => *ticket,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.tickets.redeem(ticket).unwrap().name.as_str(), "bob");
    // A whisper to any spelling of "admin" reaches the one user holding that key.
    let res = h.req(
        b,
        Request::Whisper {
            to: "ADMIN",
            msg: "hi",
        },
    );
    assert_eq!(res, [Message::WhisperRes { result: Status::Ok }]);
    match h.take(a).as_slice() {
        [Message::WhisperNtf { name, msg, .. }] => {
            assert_eq!((name.as_str(), msg.as_str()), ("bob", "hi"));
        }
        other => panic!("{other:?}"),
    }
    let res = h.req(
        b,
        Request::Whisper {
            to: "nobody",
            msg: "hi",
        },
    );
    assert_eq!(
        res,
        [Message::WhisperRes {
            result: Status::NoSuchUser
        }]
    );
}

#[test]
fn ordinary_names_in_many_scripts_log_in() {
    let mut h = H::new(LobbyConfig {
        max_conns_per_ip: 64,
        ..LobbyConfig::default()
    });
    for name in [
        "ann",
        "Mary Jane",
        "bob_99",
        "x",
        "José",
        "Zoë",
        "Łukasz",
        "Søren",
        "ñandú",
        "Ελένη",
        "Дмитрий",
        "محمد",
        "דוד",
        "李小龙",
        "さくら",
        "김민준",
        "राहुल",
        "ไทย",
        "Ашот-77",
        "sixteen-bytes-ok",
    ] {
        assert_eq!(login_status(&mut h, name), Status::Ok, "{name:?}");
    }
}
