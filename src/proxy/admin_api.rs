//! `/admin/api/v1`: the user API on the admin listener (never the public one).
//!
//! Off unless `admin.api_token` is set: then every path under `/admin/api` is 404, as if it
//! did not exist. On, each request needs `Authorization: Bearer <token>`; the token is
//! compared as SHA-256 digests in constant time, so neither its bytes nor its length leak
//! through timing. A missing or wrong token is 401.
//!
//! The actions are `users::ops`'s, as the CLI performs them; this file only reads requests
//! and writes answers. Errors are JSON `{"error", "message"}` from `respond.rs`.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::respond::{GatewayError, Reply};
use crate::config::model::Secret;
use crate::identity::{OpenId, Phone, UnionId, UserId};
use crate::users::admin::Cursor;
use crate::users::ops::{Operator, Query, UserReport};
use crate::users::UsersError;

/// Every path of the API starts with this.
pub const PREFIX: &str = "/admin/api";
const V1: &str = "/admin/api/v1/";
/// The largest request body the API reads (a reason, a phone number).
const MAX_BODY: usize = 16 * 1024;
/// Users per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

pub struct AdminApi {
    token_digest: [u8; 32],
    operator: Operator,
}

impl AdminApi {
    pub fn new(token: &Secret, operator: Operator) -> Self {
        AdminApi {
            token_digest: Sha256::digest(token.expose().as_bytes()).into(),
            operator,
        }
    }

    /// True when `authorization` is `Bearer <our token>`.
    fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let presented = authorization
            .and_then(|v| v.strip_prefix(b"Bearer "))
            .unwrap_or_default();
        let digest: [u8; 32] = Sha256::digest(presented).into();
        // Digests of equal length: the comparison's time says nothing about the token.
        let same: bool = digest.ct_eq(&self.token_digest).into();
        same && !presented.is_empty()
    }
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Reply {
    Reply::error(
        &GatewayError::Refused {
            status,
            code,
            message: message.into(),
        },
        false,
    )
}

fn users_error(e: &UsersError) -> Reply {
    match e {
        UsersError::NotFound => refuse(404, "not_found", "No such user."),
        UsersError::PhoneTaken => refuse(
            409,
            "phone_taken",
            "This phone number is bound to another user.",
        ),
        UsersError::PhoneAlreadyBound => refuse(409, "phone_bound", e.to_string()),
        UsersError::Busy => refuse(
            503,
            "busy",
            "Another change to this user is in progress; retry.",
        ),
        UsersError::Corrupt => {
            tracing::error!(error = %e, "admin API: unreadable user record");
            refuse(500, "internal", "A stored user record cannot be read.")
        }
        UsersError::Store(inner) => {
            tracing::error!(error = %inner, "admin API: store failed");
            refuse(
                503,
                "store_unavailable",
                "The store is not answering; retry.",
            )
        }
    }
}

/// What the request asks for, read from its method, path and query.
enum Action {
    Search(Query),
    List { limit: usize, after: Option<Cursor> },
    Show(UserId),
    Revoke(UserId),
    Block(UserId),
    Unblock(UserId),
    UnbindPhone(UserId),
    SetPhone(UserId),
    Delete(UserId),
    Export,
}

fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn action(method: &http::Method, path: &str, query: &str) -> Result<Action, Reply> {
    use http::Method as M;
    let Some(rest) = path.strip_prefix(V1) else {
        return Err(refuse(
            404,
            "not_found",
            "The API lives under /admin/api/v1/.",
        ));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let id = |s: &str| UserId::new(s);
    let not_allowed = || {
        refuse(
            405,
            "method_not_allowed",
            "This method is not allowed here.",
        )
    };
    match parts.as_slice() {
        ["users"] if method == M::GET => search_or_list(query),
        ["users"] => Err(not_allowed()),
        ["export"] if method == M::GET => Ok(Action::Export),
        ["export"] => Err(not_allowed()),
        ["users", u] if !u.is_empty() => match *method {
            M::GET => Ok(Action::Show(id(u))),
            M::DELETE => Ok(Action::Delete(id(u))),
            _ => Err(not_allowed()),
        },
        ["users", u, verb] if !u.is_empty() => match (*verb, method) {
            ("revoke", &M::POST) => Ok(Action::Revoke(id(u))),
            ("block", &M::POST) => Ok(Action::Block(id(u))),
            ("unblock", &M::POST) => Ok(Action::Unblock(id(u))),
            ("phone", &M::DELETE) => Ok(Action::UnbindPhone(id(u))),
            ("phone", &M::PUT) => Ok(Action::SetPhone(id(u))),
            ("revoke" | "block" | "unblock" | "phone", _) => Err(not_allowed()),
            _ => Err(refuse(404, "not_found", "No such API path.")),
        },
        _ => Err(refuse(404, "not_found", "No such API path.")),
    }
}

fn search_or_list(query: &str) -> Result<Action, Reply> {
    let searches = [
        param(query, "phone").map(|p| {
            Phone::parse(&p)
                .map(Query::Phone)
                .map_err(|e| refuse(400, "bad_phone", format!("phone {e}")))
        }),
        param(query, "openid").map(|o| Ok(Query::OpenId(OpenId::new(o)))),
        param(query, "unionid").map(|u| Ok(Query::UnionId(UnionId::new(u)))),
    ];
    let mut given = searches.into_iter().flatten();
    if let Some(first) = given.next() {
        if given.next().is_some() {
            return Err(refuse(
                400,
                "bad_query",
                "Search by one of phone, openid or unionid at a time.",
            ));
        }
        return first.map(Action::Search);
    }
    let limit = match param(query, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=crate::users::admin::MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(refuse(
                    400,
                    "bad_limit",
                    format!(
                        "limit must be a whole number from 1 to {}.",
                        crate::users::admin::MAX_PAGE
                    ),
                ))
            }
        },
    };
    let after = match param(query, "after") {
        None => None,
        Some(text) => {
            Some(Cursor::parse(&text).map_err(|e| refuse(400, "bad_cursor", e.to_string()))?)
        }
    };
    Ok(Action::List { limit, after })
}

#[derive(Serialize)]
struct Users<'a> {
    users: &'a [UserReport],
    next: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneBody {
    phone: String,
}

/// The JSON body, or an empty one read as `T::default()` when `empty_ok`.
fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8], empty: Option<T>) -> Result<T, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if let Some(value) = empty {
            return Ok(value);
        }
    }
    // serde's message may quote the body (a phone number): say only where it failed.
    serde_json::from_slice(body).map_err(|e| {
        refuse(
            400,
            "bad_json",
            format!(
                "the body is not the JSON expected (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

fn user_reply(result: Result<crate::users::User, UsersError>) -> Reply {
    match result {
        Ok(user) => Reply::json(200, &serde_json::json!({ "user": UserReport::from(&user) })),
        Err(e) => users_error(&e),
    }
}

impl AdminApi {
    /// Answers one request under [`PREFIX`]: the export by streaming it, anything else as a
    /// [`Reply`] the caller writes. `None` means the response was written here.
    pub async fn serve(&self, session: &mut ServerSession) -> Option<Reply> {
        let header = session.req_header();
        if !self.authorized(
            header
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        ) {
            return Some(
                refuse(
                    401,
                    "unauthorized",
                    "A valid `Authorization: Bearer <token>` is required.",
                )
                .header("www-authenticate", "Bearer"),
            );
        }
        let method = header.method.clone();
        let path = header.uri.path().to_string();
        let query = header.uri.query().unwrap_or("").to_string();
        let action = match action(&method, &path, &query) {
            Ok(a) => a,
            Err(reply) => return Some(reply),
        };
        let body = match read_body(session).await {
            Ok(body) => body,
            Err(reply) => return Some(reply),
        };
        let op = &self.operator;
        let now = super::app::unix_now();
        let reply = match action {
            Action::Search(q) => match op.find(&q).await {
                Ok(found) => {
                    let users: Vec<UserReport> = found.iter().map(UserReport::from).collect();
                    Reply::json(
                        200,
                        &Users {
                            users: &users,
                            next: None,
                        },
                    )
                }
                Err(e) => users_error(&e),
            },
            Action::List { limit, after } => match op.list(limit, after.as_ref()).await {
                Ok(page) => {
                    let users: Vec<UserReport> = page.users.iter().map(UserReport::from).collect();
                    let next = page.next.map(|c| c.encode());
                    Reply::json(
                        200,
                        &Users {
                            users: &users,
                            next,
                        },
                    )
                }
                Err(e) => users_error(&e),
            },
            Action::Show(id) => user_reply(op.show(&id).await),
            Action::Revoke(id) => user_reply(op.revoke(&id, now).await),
            Action::Block(id) => match json_body(&body, Some(BlockBody::default())) {
                Ok(b) => user_reply(op.block(&id, b.reason.as_deref()).await),
                Err(reply) => reply,
            },
            Action::Unblock(id) => user_reply(op.unblock(&id).await),
            Action::UnbindPhone(id) => user_reply(op.unbind_phone(&id).await),
            Action::SetPhone(id) => match json_body::<PhoneBody>(&body, None) {
                Ok(b) => match Phone::parse(&b.phone) {
                    Ok(phone) => user_reply(op.set_phone(&id, &phone, now).await),
                    Err(e) => refuse(400, "bad_phone", format!("phone {e}")),
                },
                Err(reply) => reply,
            },
            Action::Delete(id) => match op.delete(&id, now).await {
                Ok(user) => Reply::json(200, &serde_json::json!({ "deleted": user.id })),
                Err(e) => users_error(&e),
            },
            Action::Export => {
                if let Err(e) = self.export(session).await {
                    tracing::warn!(error = %e, "admin API: export ended early");
                }
                return None;
            }
        };
        Some(reply)
    }

    /// Streams every user as NDJSON (chunked): one page of the store at a time, so a large
    /// directory never sits in memory. A store failure midway ends the stream with an error
    /// line (`{"error": ...}`), the status being sent already.
    async fn export(&self, session: &mut ServerSession) -> pingora::Result<()> {
        let mut header = ResponseHeader::build(200, Some(4))?;
        header.insert_header(http::header::CONTENT_TYPE, "application/x-ndjson")?;
        header.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
        header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        session.write_response_header(Box::new(header)).await?;
        let mut export = self.operator.export();
        loop {
            let page = match export.next_page().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "admin API: export failed midway");
                    let line = b"{\"error\":\"store_unavailable\",\"message\":\"The export stopped: the store failed.\"}\n";
                    session
                        .write_response_body(Bytes::from_static(line), false)
                        .await?;
                    break;
                }
            };
            let mut chunk = Vec::new();
            for user in &page {
                if serde_json::to_writer(&mut chunk, user).is_ok() {
                    chunk.push(b'\n');
                }
            }
            if !chunk.is_empty() {
                session.write_response_body(chunk.into(), false).await?;
            }
        }
        export.finish();
        session.finish_body().await
    }
}

async fn read_body(session: &mut ServerSession) -> Result<Vec<u8>, Reply> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(refuse(
                        413,
                        "payload_too_large",
                        "The request body is too large.",
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => {
                return Err(refuse(
                    400,
                    "bad_body",
                    "The request body could not be read.",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, Store};
    use std::sync::Arc;

    fn api(dir: &tempfile::TempDir) -> AdminApi {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let op = Operator::new(store, crate::audit::Actor::Api, vec![], 60);
        AdminApi::new(&Secret::new("t".repeat(40)), op)
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let dir = tempfile::tempdir().unwrap();
        let api = api(&dir);
        let good = format!("Bearer {}", "t".repeat(40));
        assert!(api.authorized(Some(good.as_bytes())));
        for bad in [
            "".to_string(),
            "Bearer ".to_string(),
            "t".repeat(40),
            format!("bearer {}", "t".repeat(40)),
            format!("Bearer {}", "t".repeat(39)),
            format!("Bearer {}x", "t".repeat(40)),
            format!("Basic {}", "t".repeat(40)),
        ] {
            assert!(!api.authorized(Some(bad.as_bytes())), "{bad:?}");
        }
        assert!(!api.authorized(None));
    }

    #[test]
    fn paths_and_methods_map_to_actions() {
        use http::Method as M;
        let code = |m: M, p: &str, q: &str| match action(&m, p, q) {
            Ok(_) => 200,
            Err(r) => r.status,
        };
        assert_eq!(code(M::GET, "/admin/api/v1/users", ""), 200);
        assert_eq!(
            code(M::GET, "/admin/api/v1/users", "phone=13800138000"),
            200
        );
        assert_eq!(code(M::GET, "/admin/api/v1/users", "phone=12"), 400);
        assert_eq!(
            code(M::GET, "/admin/api/v1/users", "phone=13800138000&openid=o"),
            400
        );
        assert_eq!(code(M::GET, "/admin/api/v1/users", "limit=0"), 400);
        assert_eq!(code(M::GET, "/admin/api/v1/users", "limit=1001"), 400);
        assert_eq!(code(M::GET, "/admin/api/v1/users", "after=%%%"), 400);
        assert_eq!(code(M::POST, "/admin/api/v1/users", ""), 405);
        assert_eq!(code(M::GET, "/admin/api/v1/users/u_1", ""), 200);
        assert_eq!(code(M::DELETE, "/admin/api/v1/users/u_1", ""), 200);
        assert_eq!(code(M::PUT, "/admin/api/v1/users/u_1/phone", ""), 200);
        assert_eq!(code(M::GET, "/admin/api/v1/users/u_1/revoke", ""), 405);
        assert_eq!(code(M::POST, "/admin/api/v1/users/u_1/frobnicate", ""), 404);
        assert_eq!(code(M::GET, "/admin/api/v2/users", ""), 404);
        assert_eq!(code(M::GET, "/admin/api/v1/users/", ""), 404);
        assert_eq!(code(M::GET, "/admin/api/v1/export", ""), 200);
    }

    #[test]
    fn bodies_are_checked_without_echoing_them() {
        let Err(err) = json_body::<PhoneBody>(br#"{"phone": 13800138000}"#, None) else {
            panic!("a number is not a string")
        };
        assert_eq!(err.status, 400);
        assert!(!String::from_utf8_lossy(&err.body).contains("13800138000"));
        assert!(json_body::<BlockBody>(b"", Some(BlockBody::default())).is_ok());
        assert!(json_body::<PhoneBody>(b"", None).is_err());
    }
}
