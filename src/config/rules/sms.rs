//! `login.sms`: which provider sends the codes, and the keys that provider needs. Keys of
//! the other providers are ignored; a key the named provider needs and lacks is reported
//! with the provider's name, every one of them at once.

use super::{Resolved, Validator};
use crate::config::file::{
    RawSecret, SmsFile, SmsProvider, SmsTemplateParamFile, ALIYUN_SMS_ENDPOINT,
    TENCENT_SMS_ENDPOINT,
};
use crate::config::model::{
    AliyunSmsConfig, Secret, SmsConfig, SmsTemplateParam, TencentSmsConfig,
};
use crate::config::syntax::HttpUrl;

#[cfg(test)]
mod tests;

const AT: &str = "login.sms";

impl Validator<'_> {
    pub(super) fn sms(&mut self, sms: SmsFile) -> Option<SmsConfig> {
        match sms.provider {
            SmsProvider::Log => Some(SmsConfig::Log),
            SmsProvider::Webhook => {
                let url = match sms.url {
                    Some(url) => self.http_url(&format!("{AT}.url"), url),
                    None => self.reject(format!("{AT}.url"), "is required with provider: webhook"),
                };
                Some(SmsConfig::Webhook { url: url? })
            }
            SmsProvider::Tencent => self.tencent(sms).map(SmsConfig::Tencent),
            SmsProvider::Aliyun => self.aliyun(sms).map(SmsConfig::Aliyun),
        }
    }

    fn tencent(&mut self, sms: SmsFile) -> Option<TencentSmsConfig> {
        const P: &str = "tencent";
        let secret_id = self.needed_secret(P, "secret_id", sms.secret_id, sms.secret_id_file);
        let secret_key = self.needed_secret(P, "secret_key", sms.secret_key, sms.secret_key_file);
        let sdk_app_id = self
            .needed_text(P, "sdk_app_id", sms.sdk_app_id)
            .and_then(|id| {
                // The SdkAppId is a number (1400...); anything else is another console value
                // pasted in the wrong place.
                if id.bytes().all(|b| b.is_ascii_digit()) {
                    Some(id)
                } else {
                    self.reject(
                        format!("{AT}.sdk_app_id"),
                        "must be the SMS application's SdkAppId, digits only (1400...)",
                    )
                }
            });
        let sign_name = self.needed_text(P, "sign_name", sms.sign_name);
        let template_id = self.needed_text(P, "template_id", sms.template_id);
        let region = self.region(sms.region);
        let endpoint = self.endpoint(sms.endpoint, TENCENT_SMS_ENDPOINT);
        let template_params: Option<Vec<SmsTemplateParam>> = if sms.template_params.is_empty() {
            self.reject(
                format!("{AT}.template_params"),
                "must list at least one value (code, ttl_minutes), such as [code]",
            )
        } else {
            let param = |p: &SmsTemplateParamFile| match p {
                SmsTemplateParamFile::Code => SmsTemplateParam::Code,
                SmsTemplateParamFile::TtlMinutes => SmsTemplateParam::TtlMinutes,
            };
            Some(sms.template_params.iter().map(param).collect())
        };
        Some(TencentSmsConfig {
            secret_id: secret_id?,
            secret_key: secret_key?,
            sdk_app_id: sdk_app_id?,
            sign_name: sign_name?,
            template_id: template_id?,
            region: region?,
            endpoint: endpoint?,
            template_params: template_params?,
        })
    }

    fn aliyun(&mut self, sms: SmsFile) -> Option<AliyunSmsConfig> {
        const P: &str = "aliyun";
        let access_key_id = self.needed_secret(
            P,
            "access_key_id",
            sms.access_key_id,
            sms.access_key_id_file,
        );
        let access_key_secret = self.needed_secret(
            P,
            "access_key_secret",
            sms.access_key_secret,
            sms.access_key_secret_file,
        );
        let sign_name = self.needed_text(P, "sign_name", sms.sign_name);
        let template_code = self.needed_text(P, "template_code", sms.template_code);
        let endpoint = self.endpoint(sms.endpoint, ALIYUN_SMS_ENDPOINT);
        let name = sms.template_param_name;
        let template_param_name =
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                Some(name)
            } else {
                self.reject(
                    format!("{AT}.template_param_name"),
                    format!(
                        "{name:?} is not a template variable name (letters, digits and _, \
                         as in ${{code}})"
                    ),
                )
            };
        Some(AliyunSmsConfig {
            access_key_id: access_key_id?,
            access_key_secret: access_key_secret?,
            sign_name: sign_name?,
            template_code: template_code?,
            endpoint: endpoint?,
            template_param_name: template_param_name?,
        })
    }

    /// A text key the provider needs: present and not blank.
    fn needed_text(&mut self, provider: &str, key: &str, value: Option<String>) -> Option<String> {
        let path = format!("{AT}.{key}");
        match value {
            Some(v) if v.trim().is_empty() => self.reject(path, "is empty"),
            Some(v) => Some(v),
            None => self.reject(path, format!("is required for provider {provider}")),
        }
    }

    /// A secret key the provider needs, from its value or its `_file` twin.
    fn needed_secret(
        &mut self,
        provider: &str,
        key: &str,
        value: Option<RawSecret>,
        file: Option<String>,
    ) -> Option<Secret> {
        let path = format!("{AT}.{key}");
        match self.secret(&path, value, file) {
            Resolved::Value(s) if s.expose().is_empty() => self.reject(path, "is empty"),
            Resolved::Value(s) => Some(s),
            Resolved::Absent => self.reject(
                path,
                format!("is required for provider {provider} (or {key}_file)"),
            ),
            Resolved::Invalid => None,
        }
    }

    /// `login.sms.region`: a Tencent Cloud region name such as `ap-guangzhou`.
    fn region(&mut self, region: String) -> Option<String> {
        let fits = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if fits {
            Some(region)
        } else {
            self.reject(
                format!("{AT}.region"),
                format!("{region:?} is not a region name such as ap-guangzhou"),
            )
        }
    }

    /// `login.sms.endpoint`, or the provider's own address: `scheme://host[:port]` without
    /// a path, since requests are signed for the path `/`.
    fn endpoint(&mut self, value: Option<String>, default: &str) -> Option<String> {
        let path = format!("{AT}.endpoint");
        let Some(text) = value else {
            return Some(default.to_string());
        };
        match HttpUrl::parse(&text) {
            Err(why) => self.reject(path, why),
            Ok(url) if !(url.rest.is_empty() || url.rest == "/") => self.reject(
                path,
                format!("must be the API's address without a path or query, such as {default}"),
            ),
            Ok(_) => Some(text.trim_end_matches('/').to_string()),
        }
    }
}
