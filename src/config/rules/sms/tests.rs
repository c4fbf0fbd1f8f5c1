use crate::config::env::MapEnv;
use crate::config::model::{SmsConfig, SmsTemplateParam};
use crate::config::testing::{errors, load_with, messages, ok};

const TENCENT: &str = "login: {sms: {provider: tencent, secret_id: AKIDhunter2, secret_key: hunter2key, sdk_app_id: '1400000001', sign_name: 示例, template_id: '2000001'}}";
const ALIYUN: &str = "login: {sms: {provider: aliyun, access_key_id: LTAIhunter2, access_key_secret: hunter2secret, sign_name: 示例, template_code: SMS_0001}}";

#[test]
fn webhook_sms_needs_an_http_url() {
    assert_eq!(
        errors("login: {sms: {provider: webhook}}"),
        ["login.sms.url: is required with provider: webhook"]
    );
    assert_eq!(
        errors("login: {sms: {provider: webhook, url: 'smtp://x'}}"),
        ["login.sms.url: must start with http:// or https://"]
    );
    assert!(
        matches!(ok("login: {sms: {provider: webhook, url: 'http://127.0.0.1:7000/sms'}}").login.sms, SmsConfig::Webhook { ref url } if url == "http://127.0.0.1:7000/sms")
    );
}

#[test]
fn tencent_names_every_missing_key() {
    assert_eq!(
        errors("login: {sms: {provider: tencent, sign_name: ''}}"),
        [
            "login.sms.secret_id: is required for provider tencent (or secret_id_file)",
            "login.sms.secret_key: is required for provider tencent (or secret_key_file)",
            "login.sms.sdk_app_id: is required for provider tencent",
            "login.sms.sign_name: is empty",
            "login.sms.template_id: is required for provider tencent",
        ]
    );
}

#[test]
fn tencent_takes_its_defaults() {
    let SmsConfig::Tencent(t) = ok(TENCENT).login.sms else {
        panic!("not tencent");
    };
    assert_eq!(t.secret_id.expose(), "AKIDhunter2");
    assert_eq!(t.secret_key.expose(), "hunter2key");
    assert_eq!(
        (
            t.sdk_app_id.as_str(),
            t.sign_name.as_str(),
            t.template_id.as_str()
        ),
        ("1400000001", "示例", "2000001")
    );
    assert_eq!(t.region, "ap-guangzhou");
    assert_eq!(t.endpoint, "https://sms.tencentcloudapi.com");
    assert_eq!(t.template_params, [SmsTemplateParam::Code]);
    // Debug (a log line, a panic message) shows neither secret.
    let debug = format!("{t:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn tencent_takes_region_endpoint_and_template_params() {
    let c = ok("login: {sms: {provider: tencent, secret_id: i, secret_key: k, sdk_app_id: '1400000001', sign_name: S, template_id: '1', region: ap-beijing, endpoint: 'http://127.0.0.1:9000/', template_params: [code, ttl_minutes]}}");
    let SmsConfig::Tencent(t) = c.login.sms else {
        panic!("not tencent");
    };
    assert_eq!(t.region, "ap-beijing");
    assert_eq!(t.endpoint, "http://127.0.0.1:9000");
    assert_eq!(
        t.template_params,
        [SmsTemplateParam::Code, SmsTemplateParam::TtlMinutes]
    );
}

#[test]
fn tencent_values_of_the_wrong_shape_are_refused_together() {
    assert_eq!(
        errors("login: {sms: {provider: tencent, secret_id: i, secret_key: k, sdk_app_id: 'SMS app', sign_name: S, template_id: '1', region: Guangzhou, endpoint: 'https://sms.tencentcloudapi.com/v3', template_params: []}}"),
        [
            "login.sms.sdk_app_id: must be the SMS application's SdkAppId, digits only (1400...)",
            "login.sms.region: \"Guangzhou\" is not a region name such as ap-guangzhou",
            "login.sms.endpoint: must be the API's address without a path or query, such as https://sms.tencentcloudapi.com",
            "login.sms.template_params: must list at least one value (code, ttl_minutes), such as [code]",
        ]
    );
}

#[test]
fn an_unknown_template_param_is_named_by_its_index() {
    let found = errors("login: {sms: {provider: tencent, secret_id: i, secret_key: k, sdk_app_id: '1400', sign_name: S, template_id: '1', template_params: [code, minutes]}}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("login.sms.template_params[1]: ") && found[0].contains("ttl_minutes"),
        "{found:?}"
    );
}

#[test]
fn tencent_secrets_come_from_files_too() {
    let env = MapEnv::new()
        .file("/sid", "AKIDfromfile\n")
        .file("/skey", "keyfromfile\n");
    let c = load_with(
        r#"login: {sms: {provider: tencent, secret_id_file: /sid, secret_key_file: /skey, sdk_app_id: "1400", sign_name: S, template_id: "1"}}"#,
        &env,
    )
    .unwrap();
    let SmsConfig::Tencent(t) = c.login.sms else {
        panic!("not tencent");
    };
    assert_eq!(
        (t.secret_id.expose(), t.secret_key.expose()),
        ("AKIDfromfile", "keyfromfile")
    );
    assert_eq!(
        messages(load_with(
            r#"login: {sms: {provider: tencent, secret_id: x, secret_id_file: /sid, secret_key_file: /missing, sdk_app_id: "1400", sign_name: S, template_id: "1"}}"#,
            &env,
        )),
        [
            "login.sms.secret_id: set either secret_id or secret_id_file, not both",
            "login.sms.secret_key_file: cannot read \"/missing\": no such file",
        ]
    );
}

#[test]
fn aliyun_names_every_missing_key() {
    assert_eq!(
        errors("login: {sms: {provider: aliyun}}"),
        [
            "login.sms.access_key_id: is required for provider aliyun (or access_key_id_file)",
            "login.sms.access_key_secret: is required for provider aliyun (or access_key_secret_file)",
            "login.sms.sign_name: is required for provider aliyun",
            "login.sms.template_code: is required for provider aliyun",
        ]
    );
}

#[test]
fn aliyun_takes_its_defaults_and_ignores_tencent_keys() {
    let c = ok(&ALIYUN.replace("}}", ", sdk_app_id: not-digits, region: X}}"));
    let SmsConfig::Aliyun(a) = c.login.sms else {
        panic!("not aliyun");
    };
    assert_eq!(
        (a.access_key_id.expose(), a.access_key_secret.expose()),
        ("LTAIhunter2", "hunter2secret")
    );
    assert_eq!(
        (a.sign_name.as_str(), a.template_code.as_str()),
        ("示例", "SMS_0001")
    );
    assert_eq!(a.endpoint, "https://dysmsapi.aliyuncs.com");
    assert_eq!(a.template_param_name, "code");
    let debug = format!("{a:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn aliyun_checks_its_template_variable_and_endpoint() {
    assert_eq!(
        errors(&ALIYUN.replace("}}", ", template_param_name: 'verify-code', endpoint: 'ftp://x'}}")),
        [
            "login.sms.endpoint: must start with http:// or https://",
            "login.sms.template_param_name: \"verify-code\" is not a template variable name (letters, digits and _, as in ${code})",
        ]
    );
    let c = ok(&ALIYUN.replace("}}", ", template_param_name: verify_code}}"));
    assert!(
        matches!(c.login.sms, SmsConfig::Aliyun(ref a) if a.template_param_name == "verify_code")
    );
}

#[test]
fn aliyun_secrets_come_from_files_too() {
    let env = MapEnv::new()
        .file("/ak", "LTAIfile")
        .file("/sk", "secretfile\n");
    let c = load_with(
        "login: {sms: {provider: aliyun, access_key_id_file: /ak, access_key_secret_file: /sk, sign_name: S, template_code: SMS_1}}",
        &env,
    )
    .unwrap();
    assert!(
        matches!(c.login.sms, SmsConfig::Aliyun(ref a) if a.access_key_id.expose() == "LTAIfile" && a.access_key_secret.expose() == "secretfile")
    );
}
