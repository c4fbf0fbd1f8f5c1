//! Stand-ins for the SMS clouds' servers, for tests only (this crate's, and other crates'
//! through the `test-util` feature): real HTTP/1.1 servers on 127.0.0.1 that check each
//! request as the real service does, signature first, then answer as a test tells them.
//!
//! Each checks the signature with its own reading of the received request (the headers
//! the `Authorization` header names, the query as received): never by calling the client's
//! signing code, so that a mistake there cannot agree with itself.
//!
//! - `server.rs`: the HTTP/1.1 server both use; `check.rs`: their own hashing and dates;
//! - `tencent.rs`: Tencent Cloud's `SendSms` (TC3-HMAC-SHA256);
//! - `aliyun.rs`: Alibaba Cloud's `SendSms` (ACS3-HMAC-SHA256).

mod aliyun;
mod check;
mod server;
mod tencent;

use std::collections::BTreeMap;

pub use aliyun::FakeAliyun;
pub use server::HttpRequest;
pub use tencent::FakeTencent;

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
