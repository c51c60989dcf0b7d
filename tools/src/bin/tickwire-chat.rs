//! tickwire-chat: an interactive line-based lobby client.
//!
//! Type `/help` for the commands; a line that is not a command is said to your room.
//! `--tls --ca FILE` speaks TLS 1.3 to a lobby started with `--lobby-tls-cert`; there,
//! `/token [SCOPE]` asks for a connect token and prints it as hex. `--msgpack` sends every
//! request with a MessagePack body (frame type 1), so the lobby answers in MessagePack too.
//! Notifications are printed as they arrive (a reader thread owns the receiving side).
//! At `/quit` or the end of the input (a pipe), the replies to what was sent are waited for
//! (a bounded time) and printed before the tool exits.

use clap::Parser;
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickwire::client::lobby::{Error, Format, LobbyClient, Message, TlsTrust};
use tickwire::client::lobby::{Payout, Request, Side, Status};

/// Interactive terminal client for the tickwire lobby (TCP, or TLS 1.3 with --tls).
#[derive(Debug, Parser)]
#[command(name = "tickwire-chat", version, after_help = HELP)]
struct Args {
    /// Lobby address, host:port.
    #[arg(long, default_value = "127.0.0.1:7778")]
    server: String,
    /// Your user name: 1..=16 bytes, no control characters.
    #[arg(long)]
    name: String,
    /// Send a keepalive ECHO after this many seconds without traffic (the server closes
    /// idle connections).
    #[arg(long, default_value_t = 60)]
    keepalive_secs: u64,
    /// Speak TLS 1.3 (a lobby started with --lobby-tls-cert); needs --ca.
    #[arg(long, requires = "ca")]
    tls: bool,
    /// PEM file of the CA certificate(s) to trust for --tls: for a self-signed lobby
    /// certificate, that certificate itself.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Option<PathBuf>,
    /// The name the lobby's certificate must carry (a DNS name or an IP address); by
    /// default the host part of --server.
    #[arg(long, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
    /// Speak MessagePack: every request goes out as a type-1 frame (PROTOCOL.md section 7),
    /// and the lobby answers and notifies in type 1.
    #[arg(long)]
    msgpack: bool,
}

/// Most users a room can have (the protocol's limit; a server may allow fewer).
const MAX_ROOM_USERS: u8 = 100;
/// Default of `/create`'s MAX.
const DEFAULT_ROOM_USERS: u8 = 8;
/// Default of `/baccarat`'s BET_MS.
const DEFAULT_BET_MS: u16 = 10_000;
/// How long `/quit` and the end of the input wait for outstanding replies.
const DRAIN: Duration = Duration::from_secs(5);

const HELP: &str = "\
Commands:
  /list                 list rooms
  /create TITLE [MAX]   create a room (MAX users 1..=100, default 8) and enter it
  /join ID              enter a room
  /leave                leave your room
  /w NAME MSG           whisper to a user
  /invite NAME          invite a user to your room
  /echo [TEXT]          round trip to the server
  /token [SCOPE]        a connect token for the lobby's game server, printed as hex
                        (SCOPE 0, the default, or the server's id; TLS only)
  /baccarat [BET_MS]    open a baccarat table in your room (betting lasts BET_MS,
                        1000..=60000, default 10000, each round)
  /bet SIDE AMOUNT      bet on this round: SIDE player, banker or tie
  /chips                your chips
  /help                 this text
  /quit                 leave
  anything else         say it to your room";

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire-chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let mut client = match &args.ca {
        Some(ca) if args.tls => {
            let trust = TlsTrust::from_ca_file(ca).map_err(|e| Error::Tls(e.to_string()))?;
            let name = args
                .server_name
                .clone()
                .unwrap_or_else(|| host_of(&args.server).to_string());
            LobbyClient::connect_tls(&args.server, &trust, &name)?
        }
        _ => LobbyClient::connect(&args.server)?,
    };
    if args.msgpack {
        client.set_format(Format::MsgPack);
    }
    let login = client.login(&args.name)?;
    println!(
        "* logged in as {} (user {}, ticket {:016x}); /help for commands",
        args.name, login.user, login.ticket
    );
    let mut reader = client.try_clone()?;
    let mut names = HashMap::from([(login.user, args.name.clone())]);
    let keepalive = Duration::from_secs(args.keepalive_secs.max(1));
    // Requests without their reply yet, and the names whispered to, in order (the lobby
    // answers one connection's requests in order).
    let pending = Arc::new(AtomicUsize::new(0));
    let whispers: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let (r_pending, r_whispers) = (pending.clone(), whispers.clone());
    std::thread::spawn(move || loop {
        match reader.recv(keepalive) {
            Ok(Some(m)) => {
                let to = matches!(m, Message::WhisperRes { .. })
                    .then(|| r_whispers.lock().ok().and_then(|mut w| w.pop_front()))
                    .flatten();
                print_message(&m, &mut names, to.as_deref());
                if is_reply(&m) {
                    // Printed first, then counted: the main thread exits only after.
                    let _ = r_pending
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                }
            }
            Ok(None) => {
                r_pending.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = reader.send(&Request::Echo(b"")) {
                    eprintln!("* keepalive failed: {e}");
                }
            }
            Err(e) => {
                eprintln!("* {e}");
                std::process::exit(1);
            }
        }
    });
    let stdin = io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        match command(line.trim()) {
            Ok(Some(req)) => {
                if let Request::Whisper { to, .. } = req {
                    if let Ok(mut w) = whispers.lock() {
                        w.push_back(to.to_string());
                    }
                }
                pending.fetch_add(1, Ordering::SeqCst);
                client.send(&req)?;
            }
            Ok(None) => break,
            Err(msg) => println!("* {msg}"),
        }
        io::stdout().flush()?;
    }
    // /quit or the end of the input: print the replies still on their way first.
    let deadline = Instant::now() + DRAIN;
    while pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    io::stdout().flush()?;
    Ok(())
}

/// The host part of `host:port` (`[::1]:7778` gives `::1`).
fn host_of(server: &str) -> &str {
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Bytes as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `m` answers a request (a RES, an ECHO or an ERROR), not a notification.
fn is_reply(m: &Message) -> bool {
    m.result().is_some() || matches!(m, Message::Echo(_) | Message::Error { .. })
}

/// A request for the line; `Ok(None)` to quit; `Err` with something to tell the user.
fn command(line: &str) -> Result<Option<Request<'_>>, String> {
    let Some(cmd) = line.strip_prefix('/') else {
        if line.is_empty() {
            return Err("say something, or /help".into());
        }
        return Ok(Some(Request::RoomChat { msg: line }));
    };
    let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let rest = rest.trim();
    Ok(Some(match verb {
        "quit" | "q" => return Ok(None),
        "help" | "h" => return Err(HELP.into()),
        "list" | "l" => Request::RoomList,
        "leave" => Request::RoomLeave,
        "echo" => Request::Echo(rest.as_bytes()),
        "token" => Request::TokenReq {
            scope: match rest {
                "" => 0,
                s => s
                    .parse()
                    .map_err(|_| "usage: /token [SCOPE] (SCOPE a u64)")?,
            },
        },
        "join" | "j" => Request::RoomEnter {
            room: rest.parse().map_err(|_| "usage: /join ID")?,
        },
        "create" | "c" => {
            // A last word of digits is MAX, and must be one the lobby takes as given.
            let (title, max) = match rest.rsplit_once(' ') {
                Some((t, m)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => {
                    match m.parse::<u8>() {
                        Ok(n) if (1..=MAX_ROOM_USERS).contains(&n) => (t.trim(), n),
                        _ => {
                            return Err(format!(
                                "MAX is 1..={MAX_ROOM_USERS} users, not {m}; usage: /create TITLE [MAX]"
                            ))
                        }
                    }
                }
                _ => (rest, DEFAULT_ROOM_USERS),
            };
            if title.is_empty() {
                return Err("usage: /create TITLE [MAX]".into());
            }
            Request::RoomCreate { title, max }
        }
        "w" | "whisper" => match rest.split_once(' ') {
            Some((to, msg)) if !msg.trim().is_empty() => Request::Whisper {
                to,
                msg: msg.trim(),
            },
            _ => return Err("usage: /w NAME MSG".into()),
        },
        "baccarat" => Request::TableOpen {
            bet_ms: match rest {
                "" => DEFAULT_BET_MS,
                s => s
                    .parse()
                    .ok()
                    .filter(|ms| (1000..=60000).contains(ms))
                    .ok_or("usage: /baccarat [BET_MS] (BET_MS 1000..=60000)")?,
            },
        },
        "bet" => {
            const USAGE: &str = "usage: /bet player|banker|tie AMOUNT";
            let (side, amount) = rest.split_once(' ').ok_or(USAGE)?;
            let side = match side {
                "player" | "p" => Side::Player,
                "banker" | "b" => Side::Banker,
                "tie" | "t" => Side::Tie,
                _ => return Err(USAGE.into()),
            };
            let amount = amount.trim().parse().ok().filter(|&a| a > 0).ok_or(USAGE)?;
            Request::Bet {
                side: side as u8,
                amount,
            }
        }
        "chips" => Request::Chips,
        "invite" => {
            if rest.is_empty() {
                return Err("usage: /invite NAME".into());
            }
            Request::Invite { to: rest }
        }
        _ => return Err(format!("unknown command /{verb}; /help for the list")),
    }))
}

/// Text from the network, with control characters made harmless for a terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn who(names: &HashMap<u32, String>, user: u32) -> String {
    names
        .get(&user)
        .map_or_else(|| format!("user {user}"), |n| clean(n))
}

/// Prints `m`; `whisper_to` is the name a WHISPER_RES answers.
fn print_message(m: &Message, names: &mut HashMap<u32, String>, whisper_to: Option<&str>) {
    if let Some(result) = m.result() {
        if result != Status::Ok {
            match whisper_to {
                Some(to) => println!("* whisper to {} failed: {result}", clean(to)),
                None => println!("* failed: {result}"),
            }
            let _ = io::stdout().flush();
            return;
        }
    }
    match m {
        Message::Echo(b) if b.is_empty() => return, // keepalive
        Message::Echo(b) => println!("* echo: {}", clean(&String::from_utf8_lossy(b))),
        Message::LoginRes { .. } | Message::SessionLoginRes { .. } => println!("* logged in"),
        Message::RoomListRes { rooms, .. } if rooms.is_empty() => println!("* no rooms"),
        Message::RoomListRes { rooms, .. } => {
            for r in rooms {
                println!(
                    "* room {:>5}  {:<32}  {}/{}",
                    r.room,
                    clean(&r.title),
                    r.users,
                    r.max
                );
            }
        }
        Message::RoomCreateRes { room, .. } => println!("* created and entered room {room}"),
        Message::RoomEnterRes { room, users, .. } => {
            let list: Vec<String> = users.iter().map(|u| clean(&u.name)).collect();
            for u in users {
                names.insert(u.user, u.name.to_string());
            }
            println!("* entered room {room}: {}", list.join(", "));
        }
        Message::RoomUserEnterNtf { user, name } => {
            names.insert(*user, name.to_string());
            println!("* {} entered", clean(name));
        }
        Message::RoomLeaveRes { .. } => println!("* left the room"),
        Message::RoomUserLeaveNtf { user } => println!("* {} left", who(names, *user)),
        Message::RoomChatRes { .. } => {}
        Message::WhisperRes { .. } => match whisper_to {
            Some(to) => println!("* whispered to {}", clean(to)),
            None => println!("* whisper sent"),
        },
        Message::RoomChatNtf { user, msg } => println!("<{}> {}", who(names, *user), clean(msg)),
        Message::WhisperNtf { user, name, msg } => {
            names.insert(*user, name.to_string());
            println!("*{}* {}", clean(name), clean(msg));
        }
        Message::InviteRes { .. } => println!("* invitation sent"),
        Message::InviteNtf { room, name } => {
            println!(
                "* {} invites you to room {room} (/join {room})",
                clean(name)
            )
        }
        Message::TokenRes { token: Some(t), .. } => println!(
            "* token for client {}, expires at unix {}: {}",
            t.client_id,
            t.expires,
            hex(&t.to_bytes())
        ),
        Message::TokenRes { token: None, .. } => println!("* token: none (all zero)"),
        Message::Error { code } => println!("* server error: {}", code.label()),
        Message::TableOpenRes { .. } => println!("* baccarat table open"),
        Message::BetRes { chips, .. } => println!("* bet placed; {chips} chips left"),
        Message::ChipsRes { chips, .. } => println!("* you have {chips} chips"),
        Message::RoundOpenNtf { round, bet_ms } => println!(
            "* baccarat round {round}: bets open for {}.{} s (/bet player|banker|tie AMOUNT)",
            bet_ms / 1000,
            bet_ms % 1000 / 100
        ),
        Message::BetNtf { user, side, amount } => {
            println!(
                "* {} bets {amount} on {}",
                who(names, *user),
                side_name(*side)
            )
        }
        Message::RoundNtf {
            round,
            player,
            banker,
            winner,
            results,
        } => print_round(names, *round, *player, *banker, *winner, results),
    }
    let _ = io::stdout().flush();
}

/// `player`, `banker` or `tie` for a side byte (`side N` for another).
fn side_name(side: u8) -> String {
    Side::from_u8(side).map_or_else(|| format!("side {side}"), |s| s.label().to_string())
}

/// A card (PROTOCOL.md 7.1: 1..=52) as rank and suit, e.g. `K♠`, `10♥`; `?` for a value
/// that is no card.
fn card(c: u8) -> String {
    use tickwire::lobby::game::baccarat::{rank, suit};
    const RANKS: [&str; 13] = [
        "A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K",
    ];
    const SUITS: [&str; 4] = ["♠", "♥", "♦", "♣"];
    match (rank(c), suit(c)) {
        (Some(r), Some(s)) => format!("{}{}", RANKS[usize::from(r - 1)], SUITS[usize::from(s)]),
        _ => "?".into(),
    }
}

/// A hand's cards (no-card zeros left out) and value, e.g. `K♠ 7♥ (7)`.
fn hand(cards: [u8; 3]) -> String {
    let shown: Vec<String> = cards
        .iter()
        .filter(|&&c| c != 0)
        .map(|&c| card(c))
        .collect();
    let value = tickwire::lobby::game::baccarat::total(&cards);
    format!("{} ({value})", shown.join(" "))
}

/// ROUND_NTF: the hands, who won, and every bettor's result.
fn print_round(
    names: &HashMap<u32, String>,
    round: u32,
    player: [u8; 3],
    banker: [u8; 3],
    winner: u8,
    results: &[Payout],
) {
    let won = match Side::from_u8(winner) {
        Some(Side::Tie) => "tie".to_string(),
        Some(s) => format!("{} wins", s.label()),
        None => format!("winner {winner}"),
    };
    println!(
        "* baccarat round {round}: player {}, banker {}: {won}",
        hand(player),
        hand(banker)
    );
    for p in results {
        println!(
            "*   {} {:+} -> {} chips",
            who(names, p.user),
            p.delta,
            p.chips
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(command("/quit"), Ok(None));
        assert_eq!(
            command("hi there"),
            Ok(Some(Request::RoomChat { msg: "hi there" }))
        );
        assert_eq!(
            command("/create big room 12"),
            Ok(Some(Request::RoomCreate {
                title: "big room",
                max: 12
            }))
        );
        assert_eq!(
            command("/create lounge"),
            Ok(Some(Request::RoomCreate {
                title: "lounge",
                max: 8
            }))
        );
        assert_eq!(
            command("/w bob hello you"),
            Ok(Some(Request::Whisper {
                to: "bob",
                msg: "hello you"
            }))
        );
        assert_eq!(command("/join 7"), Ok(Some(Request::RoomEnter { room: 7 })));
        assert!(command("/join x").is_err());
        assert!(command("/w bob").is_err());
        assert!(command("/nope").is_err());
        // MAX out of range is refused, not taken as part of the title or clamped.
        for line in [
            "/create big 1000",
            "/create r 200",
            "/create r 0",
            "/create r 101",
        ] {
            let e = command(line).unwrap_err();
            assert!(e.contains("MAX is 1..=100"), "{line}: {e}");
        }
        assert_eq!(
            command("/create r 100"),
            Ok(Some(Request::RoomCreate {
                title: "r",
                max: 100
            }))
        );
        assert_eq!(
            command("/create room 2b"),
            Ok(Some(Request::RoomCreate {
                title: "room 2b",
                max: 8
            }))
        );
        assert_eq!(clean("a\x1b[2Jb"), "a\u{FFFD}[2Jb");
        assert_eq!(command("/token"), Ok(Some(Request::TokenReq { scope: 0 })));
        assert_eq!(
            command("/token 7"),
            Ok(Some(Request::TokenReq { scope: 7 }))
        );
        assert!(command("/token x").is_err());
        assert_eq!(host_of("127.0.0.1:7778"), "127.0.0.1");
        assert_eq!(host_of("[::1]:7778"), "::1");
        assert_eq!(host_of("lobby.example:7778"), "lobby.example");
        assert_eq!(hex(&[0, 0xab, 7]), "00ab07");
        assert_eq!(
            command("/baccarat"),
            Ok(Some(Request::TableOpen { bet_ms: 10_000 }))
        );
        assert_eq!(
            command("/baccarat 2000"),
            Ok(Some(Request::TableOpen { bet_ms: 2000 }))
        );
        for line in ["/baccarat 999", "/baccarat 60001", "/baccarat x"] {
            assert!(command(line).is_err(), "{line}");
        }
        assert_eq!(
            command("/bet banker 100"),
            Ok(Some(Request::Bet {
                side: 1,
                amount: 100
            }))
        );
        assert_eq!(
            command("/bet tie 5"),
            Ok(Some(Request::Bet { side: 2, amount: 5 }))
        );
        for line in [
            "/bet",
            "/bet banker",
            "/bet house 5",
            "/bet player 0",
            "/bet p x",
        ] {
            assert!(command(line).is_err(), "{line}");
        }
        assert_eq!(command("/chips"), Ok(Some(Request::Chips)));
        assert_eq!(card(13), "K♠");
        assert_eq!(card(20), "7♥");
        assert_eq!(card(36), "10♦");
        assert_eq!(card(40), "A♣");
        assert_eq!(card(0), "?");
        assert_eq!(hand([13, 20, 0]), "K♠ 7♥ (7)");
        assert_eq!(side_name(1), "banker");
    }
}
