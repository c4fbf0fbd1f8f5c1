//! `login.sms`: which provider sends the codes, and its keys, as the file spells them.

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProvider {
    #[default]
    Log,
    Webhook,
    /// Tencent Cloud SMS (`SendSms`, API 2021-01-11).
    Tencent,
    /// Alibaba Cloud SMS (Dysmsapi `SendSms`, 2017-05-25).
    Aliyun,
}

/// A value that fills one parameter of a Tencent template (`{1}`, `{2}`, ... in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsTemplateParamFile {
    /// The six-digit code.
    Code,
    /// The code's lifetime in whole minutes (`code_ttl_seconds`, rounded up).
    TtlMinutes,
}

/// `login.sms.endpoint` of provider tencent when the file does not set it.
pub const TENCENT_SMS_ENDPOINT: &str = "https://sms.tencentcloudapi.com";
/// `login.sms.endpoint` of provider aliyun when the file does not set it.
pub const ALIYUN_SMS_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com";

/// `login.sms`. Keys of the other providers are ignored.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsFile {
    /// Default `log`.
    pub provider: SmsProvider,
    /// webhook: http(s) URL.
    pub url: Option<String>,
    /// tencent: API credentials (CAM SecretId / SecretKey).
    pub secret_id: Option<RawSecret>,
    pub secret_id_file: Option<String>,
    pub secret_key: Option<RawSecret>,
    pub secret_key_file: Option<String>,
    /// tencent: SMS SdkAppId.
    pub sdk_app_id: Option<String>,
    /// tencent and aliyun: the approved signature (签名).
    pub sign_name: Option<String>,
    /// tencent: the approved template's ID.
    pub template_id: Option<String>,
    /// tencent: the API region. Default `ap-guangzhou`.
    pub region: String,
    /// tencent: what fills the template's parameters, in order. Default `[code]`.
    pub template_params: Vec<SmsTemplateParamFile>,
    /// aliyun: API credentials (a RAM user's AccessKey).
    pub access_key_id: Option<RawSecret>,
    pub access_key_id_file: Option<String>,
    pub access_key_secret: Option<RawSecret>,
    pub access_key_secret_file: Option<String>,
    /// aliyun: the approved template's code (`SMS_...`).
    pub template_code: Option<String>,
    /// aliyun: the template variable the code fills (`${code}`). Default `code`.
    pub template_param_name: String,
    /// tencent and aliyun: the API's address. Default [`TENCENT_SMS_ENDPOINT`] /
    /// [`ALIYUN_SMS_ENDPOINT`].
    pub endpoint: Option<String>,
}

impl Default for SmsFile {
    fn default() -> Self {
        SmsFile {
            provider: SmsProvider::Log,
            url: None,
            secret_id: None,
            secret_id_file: None,
            secret_key: None,
            secret_key_file: None,
            sdk_app_id: None,
            sign_name: None,
            template_id: None,
            region: "ap-guangzhou".to_string(),
            template_params: vec![SmsTemplateParamFile::Code],
            access_key_id: None,
            access_key_id_file: None,
            access_key_secret: None,
            access_key_secret_file: None,
            template_code: None,
            template_param_name: "code".to_string(),
            endpoint: None,
        }
    }
}
