//! Stand-ins for the SMS clouds' servers, for tests only (this crate's, and other crates'
//! through the `test-util` feature): real HTTP/1.1 servers on 127.0.0.1 that check each
//! request as the real service does, signature first, then answer as a test tells them.
//!
//! Each checks the signature with its own reading of the received request (the headers
//! the `Authorization` header names, the query as received): never by calling the client's
//! signing code, so that a mistake there cannot agree with itself.
//!
//! This file holds [`FakeProvider`], what both fakes share: the server, the script, the
//! record of what was received. Each cloud is a [`Dialect`]:
//!
//! - `server.rs`: the HTTP/1.1 server; `check.rs`: the fakes' own hashing and dates;
//! - `tencent.rs`: Tencent Cloud's `SendSms` (TC3-HMAC-SHA256);
//! - `aliyun.rs`: Alibaba Cloud's `SendSms` (ACS3-HMAC-SHA256).

mod aliyun;
mod check;
mod server;
mod tencent;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use server::HttpRequest;
use server::{Answer, Server};

/// How a fake answers the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Script {
    /// Sent.
    Accept,
    /// A refusal of the number: Tencent's `SendStatusSet` entry code, Aliyun's `Code`
    /// (both under HTTP 200).
    Refuse { code: String, message: String },
    /// A refusal of the whole request (credentials, permissions): Tencent's
    /// `Response.Error`, Aliyun's gateway error, under `status`.
    RejectRequest {
        status: u16,
        code: String,
        message: String,
    },
    /// This HTTP status with a text body.
    Status(u16),
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// No answer at all (the connection stays open until the fake is dropped).
    Hang,
}

impl Script {
    pub fn refuse(code: &str) -> Script {
        Script::Refuse {
            code: code.to_string(),
            message: format!("{code} (fake)"),
        }
    }
}

/// What a fake received in one request, as it understood it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The number as sent (`+8613800138000` to Tencent, `13800138000` to Aliyun).
    pub phone: String,
    pub sign_name: String,
    /// Tencent's `TemplateId`, Aliyun's `TemplateCode`.
    pub template: String,
    /// Tencent's `SmsSdkAppId`; `None` for Aliyun.
    pub app: Option<String>,
    /// Tencent's `X-TC-Region`; `None` for Aliyun.
    pub region: Option<String>,
    /// The template's parameters: `"1"`, `"2"`, ... for Tencent's `{1}`, `{2}`; the variable
    /// names for Aliyun's `${code}`.
    pub params: BTreeMap<String, String>,
    /// `Ok` when the signature (and all it covers) checked out; else why not.
    pub signature: Result<(), String>,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// What differs between the clouds: how a request is read and checked, and how the real
/// API words its answers.
trait Dialect: Send + Sync + 'static {
    /// The request as understood, its signature checked.
    fn read(&self, request: &HttpRequest) -> Received;
    /// The real API's answer to a request whose signature did not check out.
    fn bad_signature(&self, why: &str) -> Answer;
    /// The real API's answer for [`Script::Accept`], [`Script::Refuse`] and
    /// [`Script::RejectRequest`].
    fn answer(&self, script: &Script, received: &Received) -> Answer;
}

struct State {
    dialect: Box<dyn Dialect>,
    script: Mutex<Script>,
    received: Mutex<Vec<Received>>,
}

/// A fake SMS API on 127.0.0.1 that knows one key pair and sends until told otherwise.
pub struct FakeProvider {
    server: Server,
    state: Arc<State>,
}

impl FakeProvider {
    /// Tencent Cloud's API, accepting requests signed with `secret_id` / `secret_key`.
    pub async fn tencent(secret_id: &str, secret_key: &str) -> std::io::Result<FakeProvider> {
        Self::start(Box::new(tencent::Tencent::new(secret_id, secret_key))).await
    }

    /// Alibaba Cloud's API, accepting requests signed with this AccessKey.
    pub async fn aliyun(
        access_key_id: &str,
        access_key_secret: &str,
    ) -> std::io::Result<FakeProvider> {
        Self::start(Box::new(aliyun::Aliyun::new(
            access_key_id,
            access_key_secret,
        )))
        .await
    }

    async fn start(dialect: Box<dyn Dialect>) -> std::io::Result<FakeProvider> {
        let state = Arc::new(State {
            dialect,
            script: Mutex::new(Script::Accept),
            received: Mutex::new(Vec::new()),
        });
        let handler = state.clone();
        let server = Server::start(Arc::new(move |r: &HttpRequest| handle(&handler, r))).await?;
        Ok(FakeProvider { server, state })
    }

    /// `http://127.0.0.1:<port>`: the `login.sms.endpoint` that reaches this fake.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// How the next requests are answered.
    pub fn answer_with(&self, script: Script) {
        *self
            .state
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = script;
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Records the request, then answers: a bad signature as the real API does, else as
/// scripted.
fn handle(state: &State, request: &HttpRequest) -> Option<Answer> {
    let received = state.dialect.read(request);
    state
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(received.clone());
    if let Err(why) = &received.signature {
        return Some(state.dialect.bad_signature(why));
    }
    let script = state
        .script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match script {
        Script::Hang => None,
        Script::Status(status) => Some((status, "text/plain", b"fake failure".to_vec())),
        Script::Garbage => Some((200, "text/html", b"<html>gateway</html>".to_vec())),
        other => Some(state.dialect.answer(&other, &received)),
    }
}
