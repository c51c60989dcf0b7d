//! A subcommand's flags read from a TOML file (`tickwire serve --config FILE`) and printed
//! back as one (`--print-config`).
//!
//! The file is flat: every key is a flag's long name without the leading `--`
//! (`tick-hz = 30`, `lobby-max-conns = 4096`, `require-ticket = true`). A value is a
//! string, an integer or, for a switch, a boolean. A flag given on the command line wins
//! over the file; a key that names no flag is an error that names the key.
//!
//! Every value from the file goes through clap's own value parser of its flag (the file's
//! entries are appended to the command line as `--key=value` for every flag the command
//! line did not give), so validation, error messages and defaults live in one place: the
//! flag's definition.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::any::TypeId;
use std::ffi::OsString;
use std::path::Path;

/// Argument ids a file cannot set: the file itself, `--print-config`, help and version.
const NOT_IN_FILE: &[&str] = &["config", "print_config", "help", "version"];

/// The matches of `args` with the file named by subcommand `sub`'s `--config` applied.
///
/// `matches` is `cmd`'s parse of `args` (already checked: help and bad flags were handled
/// by clap). Without `sub` or without its `config` argument, returns `matches` as they are.
/// The error is one line for the operator: which file, which key, what is wrong.
pub fn apply(
    cmd: &Command,
    args: &[OsString],
    matches: &ArgMatches,
    sub: &str,
) -> Result<ArgMatches, String> {
    let Some(sm) = matches.subcommand_matches(sub) else {
        return Ok(matches.clone());
    };
    let Some(path) = sm.get_one::<std::path::PathBuf>("config") else {
        return Ok(matches.clone());
    };
    let sc = cmd
        .find_subcommand(sub)
        .ok_or_else(|| format!("no subcommand {sub}"))?;
    let extra = file_args(cmd, sc, sm, path, args.first())?;
    let mut all = args.to_vec();
    all.extend(extra);
    cmd.clone()
        .try_get_matches_from(all)
        .map_err(|e| format!("{}: {}", path.display(), clap_line(&e)))
}

/// The command-line form of every key of the file at `path` that the command line did not
/// give, each checked alone against its flag.
fn file_args(
    cmd: &Command,
    sc: &Command,
    sm: &ArgMatches,
    path: &Path,
    bin: Option<&OsString>,
) -> Result<Vec<OsString>, String> {
    let at = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {at}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{at}: {e}"))?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let arg = settable(sc)
            .find(|a| a.get_long() == Some(key.as_str()))
            .ok_or_else(|| {
                format!(
                    "{at}: unknown key `{key}` (the keys are the flags of `{} --help` \
                     without their leading --)",
                    sc.get_name()
                )
            })?;
        if sm.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            continue;
        }
        let one =
            command_line_form(arg, key, value).map_err(|e| format!("{at}: key `{key}`: {e}"))?;
        // Checked alone, so that a bad value is reported with the key that holds it.
        let alone = [bin.cloned().unwrap_or_default(), sc.get_name().into()]
            .into_iter()
            .chain(one.iter().cloned());
        if let Err(e) = cmd.clone().try_get_matches_from(alone) {
            return Err(format!("{at}: key `{key}`: {}", clap_line(&e)));
        }
        out.extend(one);
    }
    Ok(out)
}

/// `--key=value`, `--key` (a switch set to true) or nothing (a switch set to false).
fn command_line_form(arg: &Arg, key: &str, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let switch = matches!(arg.get_action(), ArgAction::SetTrue);
    let text = match value {
        toml::Value::Boolean(b) if switch => {
            return Ok(if *b {
                vec![format!("--{key}").into()]
            } else {
                vec![]
            })
        }
        _ if switch => return Err("a switch: give true or false".into()),
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        other => {
            return Err(format!(
                "give a string or an integer, not {}",
                other.type_str()
            ))
        }
    };
    Ok(vec![format!("--{key}={text}").into()])
}

/// The arguments of `sc` that a file may set.
fn settable(sc: &Command) -> impl Iterator<Item = &Arg> {
    sc.get_arguments()
        .filter(|a| a.get_long().is_some() && !NOT_IN_FILE.contains(&a.get_id().as_str()))
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// The effective configuration of subcommand `sc` (matched as `sm`) as a TOML file that
/// `--config` reads back to the same configuration: every settable flag with its value
/// (given, from the file or the default), each under its help text as a comment; a flag
/// with no value and no default is shown commented out.
pub fn to_toml(sc: &Command, sm: &ArgMatches) -> String {
    let mut out = format!(
        "# tickwire {}: the effective configuration (read it back with --config FILE).\n",
        sc.get_name()
    );
    for arg in settable(sc) {
        let key = arg.get_long().unwrap_or_default();
        let id = arg.get_id().as_str();
        out.push('\n');
        if let Some(help) = arg.get_help() {
            let mut help = help.to_string();
            if !help.ends_with(['.', ')', ':']) {
                help.push('.'); // clap drops a one-sentence help's final period
            }
            wrap_comment(&mut out, &help);
        }
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            out.push_str(&format!("{key} = {}\n", sm.get_flag(id)));
            continue;
        }
        let raw = sm
            .get_raw(id)
            .and_then(|mut v| v.next())
            .map(|v| v.to_string_lossy().into_owned());
        match raw {
            None => out.push_str(&format!("# {key} = (not set: the default applies)\n")),
            Some(v) if is_integer(arg) && v.parse::<i64>().is_ok() => {
                out.push_str(&format!("{key} = {v}\n"))
            }
            Some(v) => out.push_str(&format!("{key} = {}\n", toml::Value::String(v))),
        }
    }
    out
}

/// Whether `arg`'s parser yields an integer (written to the file as a TOML integer).
fn is_integer(arg: &Arg) -> bool {
    let t = arg.get_value_parser().type_id();
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i64>(),
    ]
    .iter()
    .any(|id| t == *id)
}

/// `text` as `# ` comment lines of at most about 90 columns.
fn wrap_comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 90 && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}
