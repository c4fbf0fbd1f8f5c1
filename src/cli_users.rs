//! `scangate users ...`: the operator's commands on the user directory, over the store the
//! config file names. Safe while gateways run on the same store: every change goes through
//! the same atomic operations the gateways use, and reaches them within a second (Redis
//! notifications; a gateway on the embedded store re-reads the marks on a short period).
//!
//! Exit codes: 0 done, 1 no such user (or the change was refused: a phone held by another
//! user), 64 usage or config problem, 69 the store failed or could not be reached.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::audit::Actor;
use crate::config::Config;
use crate::identity::{OpenId, Phone, UnionId, UserId};
use crate::users::admin::Cursor;
use crate::users::ops::{Operator, Query, UserReport};
use crate::users::UsersError;

pub const EXIT_OK: u8 = 0;
pub const EXIT_NOT_FOUND: u8 = 1;
pub const EXIT_USAGE: u8 = 64;
pub const EXIT_UNAVAILABLE: u8 = 69;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// The users matching a phone, openid (any configured app), unionid or id.
    Find {
        #[command(flatten)]
        by: FindBy,
        #[arg(long)]
        json: bool,
    },
    /// Everything stored about one user (the phone in full).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Users, newest first, one page at a time.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The cursor the previous page ended with.
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// End every session of the user, in every running gateway.
    Revoke {
        id: String,
    },
    /// Refuse the user's sessions (403) and logins until unblocked.
    Block {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Unblock {
        id: String,
    },
    /// Remove the user's phone number (they are asked for one at their next login if the
    /// gateway requires it).
    UnbindPhone {
        id: String,
    },
    /// Give the user another phone number; refused if another user holds it.
    SetPhone {
        id: String,
        phone: String,
    },
    /// Erase the user: record, WeChat ids, phone; sessions end. Asks first unless --yes.
    Delete {
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Every user, one JSON object per line.
    Export {
        /// Write to this file (created readable by its owner only) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct FindBy {
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    openid: Option<String>,
    #[arg(long)]
    unionid: Option<String>,
    #[arg(long)]
    id: Option<String>,
}

/// The WeChat app ids the config names, where an openid may be known.
pub fn app_ids(config: &Config) -> Vec<String> {
    let w = &config.wechat;
    w.official_account
        .iter()
        .map(|a| a.app_id.clone())
        .chain(w.mini_program.iter().map(|m| m.app_id.clone()))
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs one `scangate users` command; returns the exit code.
pub fn run(config: &Config, command: UsersCommand) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scangate users: cannot start: {e}");
            return EXIT_UNAVAILABLE;
        }
    };
    runtime.block_on(async {
        let store = match crate::store::open(&config.store).await {
            Ok(store) => store,
            Err(e) => {
                eprintln!("scangate users: {e}");
                return EXIT_UNAVAILABLE;
            }
        };
        let operator = Operator::new(
            store,
            Actor::Cli,
            app_ids(config),
            config.session.ttl_seconds,
        );
        execute(&operator, command).await
    })
}

fn failed(e: &UsersError) -> u8 {
    match e {
        UsersError::NotFound => {
            eprintln!("no such user");
            EXIT_NOT_FOUND
        }
        UsersError::PhoneTaken | UsersError::PhoneAlreadyBound => {
            eprintln!("refused: {e}");
            EXIT_NOT_FOUND
        }
        UsersError::Busy | UsersError::Corrupt | UsersError::Store(_) => {
            eprintln!("scangate users: {e}");
            EXIT_UNAVAILABLE
        }
    }
}

fn usage(message: impl std::fmt::Display) -> u8 {
    eprintln!("scangate users: {message}");
    EXIT_USAGE
}

async fn execute(op: &Operator, command: UsersCommand) -> u8 {
    let now = now();
    match command {
        UsersCommand::Find { by, json } => {
            let query = match query(by) {
                Ok(q) => q,
                Err(code) => return code,
            };
            match op.find(&query).await {
                Ok(found) if found.is_empty() => {
                    if json {
                        println!(r#"{{"users":[],"next":null}}"#);
                    }
                    eprintln!("no user matches");
                    EXIT_NOT_FOUND
                }
                Ok(found) => {
                    let reports: Vec<UserReport> = found.iter().map(UserReport::from).collect();
                    print_users(&reports, None, json);
                    EXIT_OK
                }
                Err(e) => failed(&e),
            }
        }
        UsersCommand::Show { id, json } => match op.show(&UserId::new(id)).await {
            Ok(user) => {
                let report = UserReport::from(&user);
                if json {
                    println!("{}", serde_json::json!({ "user": report }));
                } else {
                    print!("{}", describe(&report));
                }
                EXIT_OK
            }
            Err(e) => failed(&e),
        },
        UsersCommand::List { limit, after, json } => {
            if !(1..=crate::users::admin::MAX_PAGE).contains(&limit) {
                return usage(format!(
                    "--limit must be from 1 to {}",
                    crate::users::admin::MAX_PAGE
                ));
            }
            let after = match after.map(|a| Cursor::parse(&a)).transpose() {
                Ok(a) => a,
                Err(e) => return usage(format!("--after: {e}")),
            };
            match op.list(limit, after.as_ref()).await {
                Ok(page) => {
                    let reports: Vec<UserReport> =
                        page.users.iter().map(UserReport::from).collect();
                    print_users(&reports, page.next.map(|c| c.encode()), json);
                    EXIT_OK
                }
                Err(e) => failed(&e),
            }
        }
        UsersCommand::Revoke { id } => done(
            op.revoke(&UserId::new(id), now).await,
            "every session ended",
        ),
        UsersCommand::Block { id, reason } => done(
            op.block(&UserId::new(id), reason.as_deref()).await,
            "blocked",
        ),
        UsersCommand::Unblock { id } => done(op.unblock(&UserId::new(id)).await, "unblocked"),
        UsersCommand::UnbindPhone { id } => done(
            op.unbind_phone(&UserId::new(id)).await,
            "phone number removed",
        ),
        UsersCommand::SetPhone { id, phone } => match Phone::parse(&phone) {
            Ok(phone) => done(
                op.set_phone(&UserId::new(id), &phone, now).await,
                "phone number set",
            ),
            Err(e) => usage(format!("the phone number {e}")),
        },
        UsersCommand::Delete { id, yes } => {
            let id = UserId::new(id);
            if !yes {
                match confirm_delete(op, &id).await {
                    Ok(()) => {}
                    Err(code) => return code,
                }
            }
            done(op.delete(&id, now).await, "erased")
        }
        UsersCommand::Export { out } => export(op, out).await,
    }
}

fn query(by: FindBy) -> Result<Query, u8> {
    let FindBy {
        phone,
        openid,
        unionid,
        id,
    } = by;
    if let Some(p) = phone {
        return Phone::parse(&p)
            .map(Query::Phone)
            .map_err(|e| usage(format!("--phone: the number {e}")));
    }
    if let Some(o) = openid {
        return Ok(Query::OpenId(OpenId::new(o)));
    }
    if let Some(u) = unionid {
        return Ok(Query::UnionId(UnionId::new(u)));
    }
    match id {
        Some(id) => Ok(Query::Id(UserId::new(id))),
        None => Err(usage("give one of --phone, --openid, --unionid or --id")),
    }
}

fn done(result: Result<crate::users::User, UsersError>, what: &str) -> u8 {
    match result {
        Ok(user) => {
            println!("{}: {what}", user.id);
            EXIT_OK
        }
        Err(e) => failed(&e),
    }
}

/// Asks on the terminal; refuses to go on without one.
async fn confirm_delete(op: &Operator, id: &UserId) -> Result<(), u8> {
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "delete erases a user for good: confirm on a terminal, or pass --yes",
        ));
    }
    let user = op.show(id).await.map_err(|e| failed(&e))?;
    eprint!(
        "Erase user {} (phone {}, {} WeChat id(s)) and end their sessions? Type the user id to confirm: ",
        user.id,
        user.phone.as_ref().map_or("-".to_string(), Phone::masked),
        user.openids.len()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() || answer.trim() != id.as_str() {
        eprintln!("not confirmed; nothing was deleted");
        return Err(EXIT_USAGE);
    }
    Ok(())
}

async fn export(op: &Operator, out: Option<PathBuf>) -> u8 {
    let mut sink: Box<dyn Write> = match &out {
        None => Box::new(std::io::stdout().lock()),
        Some(path) => match private_file(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => return usage(format!("--out {}: {e}", path.display())),
        },
    };
    let mut export = op.export();
    let mut code = EXIT_OK;
    loop {
        match export.next_page().await {
            Ok(Some(page)) => {
                for user in &page {
                    let written = serde_json::to_writer(&mut sink, user)
                        .map_err(std::io::Error::from)
                        .and_then(|()| sink.write_all(b"\n"));
                    if let Err(e) = written {
                        eprintln!("scangate users export: cannot write: {e}");
                        code = EXIT_UNAVAILABLE;
                        break;
                    }
                }
                if code != EXIT_OK {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                code = failed(&e);
                break;
            }
        }
    }
    if let Err(e) = sink.flush() {
        eprintln!("scangate users export: cannot write: {e}");
        code = EXIT_UNAVAILABLE;
    }
    let count = export.finish();
    if out.is_some() && code == EXIT_OK {
        eprintln!("{count} user(s) exported");
    }
    code
}

/// A new file readable by its owner only: an export holds phone numbers.
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn print_users(users: &[UserReport], next: Option<String>, json: bool) {
    if json {
        println!("{}", serde_json::json!({ "users": users, "next": next }));
        return;
    }
    for u in users {
        println!(
            "{}  {}  created {}  {}",
            u.id,
            u.phone.as_deref().unwrap_or("-"),
            time(Some(u.created_at)),
            if u.blocked { "blocked" } else { "active" }
        );
    }
    if let Some(next) = next {
        println!("more: --after {next}");
    }
}

/// `show`'s text: one field a line.
fn describe(u: &UserReport) -> String {
    let openids = if u.openids.is_empty() {
        "-".to_string()
    } else {
        u.openids
            .iter()
            .map(|(app, o)| format!("{app}={o}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let methods = if u.methods.is_empty() {
        "-".to_string()
    } else {
        u.methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let blocked = match (u.blocked, &u.blocked_reason) {
        (false, _) => "no".to_string(),
        (true, None) => "yes".to_string(),
        (true, Some(reason)) => format!("yes ({reason})"),
    };
    format!(
        "id          {}\nphone       {}\nopenids     {}\nunionid     {}\nmethods     {}\ncreated     {}\nlast login  {}\nblocked     {}\n",
        u.id,
        u.phone.as_deref().unwrap_or("-"),
        openids,
        u.unionid.as_deref().unwrap_or("-"),
        methods,
        time(Some(u.created_at)),
        time(u.last_login_at),
        blocked
    )
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`, `-` for none.
fn time(seconds: Option<u64>) -> String {
    seconds.map_or_else(|| "-".to_string(), crate::utc::utc_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time(Some(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(time(Some(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(time(None), "-");
    }

    #[test]
    fn show_gives_every_field_and_the_full_phone() {
        let report = UserReport {
            id: UserId::new("u_a"),
            phone: Some("+8613800138000".into()),
            openids: [("wx1".to_string(), "o1".to_string())]
                .into_iter()
                .collect(),
            unionid: None,
            methods: vec![crate::identity::LoginMethod::OfficialAccount],
            created_at: 0,
            last_login_at: None,
            blocked: true,
            blocked_reason: Some("left".into()),
        };
        let text = describe(&report);
        assert!(text.contains("+8613800138000"));
        assert!(text.contains("wx1=o1"));
        assert!(text.contains("official_account"));
        assert!(text.contains("yes (left)"));
        assert!(text.contains("last login  -"));
    }
}
