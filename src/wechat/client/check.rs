//! `scangate wechat check`: one token request that tells an operator whether the AppID, the
//! AppSecret and the IP whitelist are right, in plain words (see [`crate::wechat::explain::explain_for`]).

use std::time::Duration;

use super::{Api, Error, WechatClient};
use crate::wechat::explain::explain_for;

/// What a credential check found. Holds neither the AppSecret nor the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The appid checked.
    pub app_id: String,
    /// The API base asked (`https://api.weixin.qq.com` in production).
    pub api_base: String,
    /// WeChat's answer.
    pub outcome: CheckOutcome,
}

/// WeChat's answer to the token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// A token was issued: the credentials work from this machine.
    TokenIssued {
        /// How long the token stays valid, from WeChat's `expires_in`.
        expires_in: Duration,
    },
    /// WeChat refused.
    Refused {
        /// WeChat's code.
        errcode: i64,
        /// WeChat's text with its `rid` (for 40164 it names the IP address WeChat saw).
        errmsg: String,
        /// What the code means and what to do, when known.
        explanation: Option<&'static str>,
    },
}

impl CheckReport {
    /// True when the credentials work.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, CheckOutcome::TokenIssued { .. })
    }
}

impl std::fmt::Display for CheckReport {
    /// Several lines for a terminal: the appid, the API, then the verdict.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "app id:  {}", self.app_id)?;
        writeln!(f, "api:     {}", self.api_base)?;
        match &self.outcome {
            CheckOutcome::TokenIssued { expires_in } => write!(
                f,
                "result:  ok, WeChat issued an access token valid for {} s",
                expires_in.as_secs()
            ),
            CheckOutcome::Refused {
                errcode,
                errmsg,
                explanation,
            } => {
                write!(f, "result:  refused, errcode {errcode}: {errmsg}")?;
                match explanation {
                    Some(text) => write!(f, "\nmeaning: {text}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl WechatClient {
    /// Fetches a token from WeChat now (`POST /cgi-bin/stable_token` with
    /// `force_refresh: false`, so tokens other instances hold stay valid), bypassing the
    /// cache, and reports the outcome. WeChat's refusals are an `Ok` report with the plain
    /// words of [`explain_for`]; `Err` means WeChat could not be asked or answered nonsense.
    pub async fn check(&self) -> Result<CheckReport, Error> {
        let outcome = match self.fetch_token().await {
            Ok(fetched) => CheckOutcome::TokenIssued {
                expires_in: Duration::from_secs(fetched.expires_in),
            },
            Err(Error::Api { errcode, errmsg }) => CheckOutcome::Refused {
                errcode,
                errmsg,
                explanation: explain_for(Api::StableToken, errcode),
            },
            Err(e) => return Err(e),
        };
        Ok(CheckReport {
            app_id: self.app_id.clone(),
            api_base: self.base.clone(),
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::client::ApiConfig;
    use crate::wechat_sim::{SimApi, SimConfig, SimHandle, Simulator};

    const APP_ID: &str = "wx_check_app";
    const SECRET: &str = "check-secret-value";

    async fn sim() -> SimHandle {
        Simulator::start(SimConfig {
            app_id: APP_ID.into(),
            app_secret: SECRET.into(),
            token: "t".into(),
            encoding_aes_key: None,
            callback_url: "http://127.0.0.1:9/".into(),
        })
        .await
        .unwrap()
    }

    fn client(api_base: String, app_id: &str, secret: &str) -> WechatClient {
        WechatClient::new(ApiConfig {
            api_base,
            app_id: app_id.into(),
            app_secret: secret.into(),
            timeout: Duration::from_secs(5),
        })
        .unwrap()
    }

    fn refused(report: &CheckReport) -> (i64, &'static str) {
        match &report.outcome {
            CheckOutcome::Refused {
                errcode,
                explanation,
                ..
            } => (*errcode, explanation.unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn working_credentials_report_the_token_lifetime_not_the_token() {
        let sim = sim().await;
        let client = client(sim.api_base(), APP_ID, SECRET);
        let token = client.access_token().await.unwrap();
        let report = client.check().await.unwrap();
        assert!(report.is_ok());
        assert_eq!(report.app_id, APP_ID);
        assert_eq!(report.api_base, sim.api_base());
        assert!(matches!(
            report.outcome,
            // The simulator's stable token had a moment to age.
            CheckOutcome::TokenIssued { expires_in } if expires_in.as_secs() >= 7199
        ));
        let shown = format!("{report}\n{report:?}");
        assert!(
            shown.contains("ok, WeChat issued an access token"),
            "{shown}"
        );
        assert!(!shown.contains(SECRET) && !shown.contains(token.expose()));
        // Normal mode: the check asked WeChat again but did not rotate the token.
        assert_eq!(sim.counters().stable_token_calls, 2);
        assert_eq!(sim.counters().tokens_issued, 1);
    }

    #[tokio::test]
    async fn wrong_appid_secret_and_ip_are_explained() {
        let sim = sim().await;

        let report = client(sim.api_base(), "wx_not_mine", SECRET)
            .check()
            .await
            .unwrap();
        let (code, meaning) = refused(&report);
        assert_eq!(code, 40013);
        assert!(meaning.contains("AppID is not valid"), "{meaning}");
        assert_eq!(report.app_id, "wx_not_mine");

        let report = client(sim.api_base(), APP_ID, "wrong-secret")
            .check()
            .await
            .unwrap();
        let (code, meaning) = refused(&report);
        assert_eq!(code, 40125);
        assert!(meaning.contains("AppSecret is wrong"), "{meaning}");
        let shown = format!("{report}\n{report:?}");
        assert!(
            shown.contains("errcode 40125: invalid appsecret rid: "),
            "{shown}"
        );
        assert!(
            shown.contains("\nmeaning: The AppSecret is wrong"),
            "{shown}"
        );
        assert!(!shown.contains("wrong-secret"), "{shown}");

        sim.set_ip_whitelisted(false);
        let report = client(sim.api_base(), APP_ID, SECRET)
            .check()
            .await
            .unwrap();
        let (code, meaning) = refused(&report);
        assert_eq!(code, 40164);
        assert!(
            meaning.contains("IP whitelist") && meaning.contains("IP白名单"),
            "{meaning}"
        );
        assert!(!report.is_ok());
        sim.set_ip_whitelisted(true);

        sim.fail_next(SimApi::StableToken, 40164);
        let report = client(sim.api_base(), APP_ID, SECRET)
            .check()
            .await
            .unwrap();
        assert_eq!(refused(&report).0, 40164);
        assert!(client(sim.api_base(), APP_ID, SECRET)
            .check()
            .await
            .unwrap()
            .is_ok());
    }

    #[tokio::test]
    async fn unknown_codes_have_no_explanation_and_silence_is_an_error() {
        let sim = sim().await;
        sim.fail_next(SimApi::StableToken, 99999);
        let report = client(sim.api_base(), APP_ID, SECRET)
            .check()
            .await
            .unwrap();
        assert!(matches!(
            report.outcome,
            CheckOutcome::Refused {
                errcode: 99999,
                explanation: None,
                ..
            }
        ));
        assert!(!report.to_string().contains("meaning:"));
        let base = sim.api_base();
        sim.shutdown().await;
        assert!(matches!(
            client(base, APP_ID, SECRET).check().await,
            Err(Error::Http(_))
        ));
    }
}
