//! tickwire-chat: an interactive line-based lobby client.
//!
//! Type `/help` for the commands; a line that is not a command is said to your room.
//! Notifications are printed as they arrive (a reader thread owns the receiving side).

use clap::Parser;
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;
use tickwire::client::lobby::{Error, LobbyClient, Message};
use tickwire::client::lobby::{Request, Status};

/// Interactive terminal client for the tickwire lobby (TCP).
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
}

const HELP: &str = "\
Commands:
  /list                 list rooms
  /create TITLE [MAX]   create a room (MAX users, default 8) and enter it
  /join ID              enter a room
  /leave                leave your room
  /w NAME MSG           whisper to a user
  /invite NAME          invite a user to your room
  /echo [TEXT]          round trip to the server
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
    let mut client = LobbyClient::connect(&args.server)?;
    let login = client.login(&args.name)?;
    println!(
        "* logged in as {} (user {}, ticket {:016x}); /help for commands",
        args.name, login.user, login.ticket
    );
    let mut reader = client.try_clone()?;
    let mut names = HashMap::from([(login.user, args.name.clone())]);
    let keepalive = Duration::from_secs(args.keepalive_secs.max(1));
    std::thread::spawn(move || loop {
        match reader.recv(keepalive) {
            Ok(Some(m)) => print_message(&m, &mut names),
            Ok(None) => {
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
            Ok(Some(req)) => client.send(&req)?,
            Ok(None) => return Ok(()),
            Err(msg) => println!("* {msg}"),
        }
        io::stdout().flush()?;
    }
    Ok(())
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
        "join" | "j" => Request::RoomEnter {
            room: rest.parse().map_err(|_| "usage: /join ID")?,
        },
        "create" | "c" => {
            let (title, max) = match rest.rsplit_once(' ') {
                Some((t, m)) if m.parse::<u8>().is_ok() => (t.trim(), m.parse().unwrap_or(8)),
                _ => (rest, 8),
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

fn print_message(m: &Message, names: &mut HashMap<u32, String>) {
    if let Some(result) = m.result() {
        if result != Status::Ok {
            println!("* failed: {result}");
            return;
        }
    }
    match m {
        Message::Echo(b) if b.is_empty() => return, // keepalive
        Message::Echo(b) => println!("* echo: {}", clean(&String::from_utf8_lossy(b))),
        Message::LoginRes { .. } => println!("* logged in"),
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
        Message::RoomChatRes { .. } | Message::WhisperRes { .. } => {}
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
        Message::Error { code } => println!("* server error: {}", code.label()),
    }
    let _ = io::stdout().flush();
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
        assert_eq!(clean("a\x1b[2Jb"), "a\u{FFFD}[2Jb");
    }
}
