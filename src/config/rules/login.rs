//! `login`: the methods on the login page, phone binding, SMS codes and the abuse limits
//! (`login.sms` itself is `sms.rs`).

use super::Validator;
use crate::config::file::{
    CountryCodeText, LoginFile, PhonePolicyFile, QuotaReserveFile, WechatFile,
};
use crate::config::model::{Limits, LoginConfig, PhonePolicy, QuotaReserve};

mod branding;
use crate::identity::{CountryCode, LoginMethod, PhoneCountries};

#[cfg(test)]
mod tests;

/// Which login methods the file's `wechat` section can serve. Presence is what counts: a
/// section with problems of its own has them reported there, not again under `login`.
#[derive(Clone, Copy)]
pub(super) struct WechatSections {
    simulate: bool,
    official_account: bool,
    mini_program: bool,
    website: bool,
}

impl WechatSections {
    pub(super) fn of(wechat: &WechatFile) -> Self {
        WechatSections {
            simulate: wechat.simulate,
            official_account: wechat.official_account.is_some(),
            mini_program: wechat.mini_program.is_some(),
            website: wechat.website.is_some(),
        }
    }
}

impl Validator<'_> {
    pub(super) fn login(
        &mut self,
        login: LoginFile,
        wechat: WechatSections,
    ) -> Option<LoginConfig> {
        let LoginFile {
            methods,
            sms_signup,
            phone,
            phone_countries,
            code_ttl_seconds,
            quota_reserve,
            sms,
            limits,
            site_name,
            qr_logo,
        } = login;
        let mut parsed = Vec::with_capacity(methods.len());
        let mut ok = true;
        if methods.is_empty() {
            ok = false;
            self.issues
                .add("login.methods", "must list at least one method");
        }
        for (i, text) in methods.iter().enumerate() {
            let path = format!("login.methods[{i}]");
            let method = match LoginMethod::parse(text) {
                Some(LoginMethod::InWechat) => {
                    // Not a choice on the page: WeChat's own browser is sent to it directly.
                    ok = false;
                    self.issues.add(
                        path,
                        "in_wechat is not a method of the login page: set \
                         wechat.official_account.oauth: true instead",
                    );
                    continue;
                }
                Some(method) => method,
                None => {
                    ok = false;
                    self.issues.add(
                        path,
                        format!(
                            "{text:?} is not a login method (official_account, mini_program, website or sms)"
                        ),
                    );
                    continue;
                }
            };
            if parsed.contains(&method) {
                ok = false;
                self.issues.add(path, format!("{method} is listed twice"));
                continue;
            }
            let section = match method {
                LoginMethod::OfficialAccount | LoginMethod::InWechat => wechat.official_account,
                LoginMethod::MiniProgram => wechat.mini_program,
                // Texted through `login.sms`, which always names a provider.
                LoginMethod::Sms => {
                    parsed.push(method);
                    continue;
                }
                LoginMethod::Website => wechat.website,
            };
            let section_path = format!("wechat.{method}");
            if !section && !wechat.simulate && !self.issues.is_broken(&section_path) {
                ok = false;
                self.issues.add(
                    path,
                    format!("{method} needs a {section_path} section (or wechat.simulate: true)"),
                );
            }
            parsed.push(method);
        }
        let code_ttl_seconds = self.within(
            "login.code_ttl_seconds",
            code_ttl_seconds,
            60,
            3600,
            "seconds",
        );
        let quota_reserve = self.quota_reserve(&quota_reserve);
        let sms = self.sms(sms);
        let site_name = self.site_name(site_name);
        let qr_logo = self.qr_logo(qr_logo);
        let phone_countries = self.phone_countries(&phone_countries);
        let phone = match phone {
            PhonePolicyFile::Required => PhonePolicy::Required,
            PhonePolicyFile::Optional => PhonePolicy::Optional,
            PhonePolicyFile::Off => PhonePolicy::Off,
        };
        Some(LoginConfig {
            methods: ok.then_some(parsed)?,
            sms_signup,
            phone,
            phone_countries: phone_countries?,
            code_ttl_seconds: code_ttl_seconds?,
            quota_reserve: quota_reserve?,
            sms: sms?,
            limits: Limits::from(&limits),
            site_name: site_name?,
            qr_logo: qr_logo?,
        })
    }

    /// `login.quota_reserve`: `"N%"` with N from 0 to 50 (two decimals at most), or a count.
    fn quota_reserve(&mut self, value: &QuotaReserveFile) -> Option<QuotaReserve> {
        const AT: &str = "login.quota_reserve";
        match value {
            QuotaReserveFile::Calls(n) => Some(QuotaReserve::Calls(*n)),
            QuotaReserveFile::Text(text) => {
                let percent = text
                    .trim()
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .filter(|p| (0.0..=50.0).contains(p));
                match percent {
                    // In range 0..=5000, so the cast is exact after rounding.
                    Some(p) => Some(QuotaReserve::BasisPoints((p * 100.0).round() as u64)),
                    None => self.reject(
                        AT,
                        format!(
                            "{text:?} is neither a share of the daily limit from \"0%\" to \"50%\" nor a number of calls"
                        ),
                    ),
                }
            }
        }
    }

    /// `login.phone_countries`: distinct country calling codes, at least one.
    fn phone_countries(&mut self, texts: &[CountryCodeText]) -> Option<PhoneCountries> {
        const AT: &str = "login.phone_countries";
        let mut codes: Vec<CountryCode> = Vec::with_capacity(texts.len());
        let mut ok = true;
        for (i, CountryCodeText(text)) in texts.iter().enumerate() {
            let path = format!("{AT}[{i}]");
            match CountryCode::parse(text) {
                Ok(code) if codes.contains(&code) => {
                    ok = false;
                    self.issues.add(path, format!("{code} is listed twice"));
                }
                Ok(code) => codes.push(code),
                Err(e) => {
                    ok = false;
                    self.issues.add(path, format!("{text:?} {e}"));
                }
            }
        }
        if texts.is_empty() {
            // Every new user would be stuck at the phone step.
            return self.reject(
                AT,
                "must list at least one country calling code, such as \"86\"",
            );
        }
        ok.then(|| PhoneCountries::new(codes)).flatten()
    }
}
