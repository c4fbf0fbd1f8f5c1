//! Alibaba Cloud SMS error codes (Dysmsapi SendSms 2017-05-25, "API错误码", and the API
//! gateway's own): what each means for the person, and for the codes the account's setup
//! causes, what the operator must fix.

use crate::sms::error::{LimitWindow, RefusalKind};

/// What a refusal with `code` means for the person.
pub(crate) fn kind(code: &str) -> RefusalKind {
    match code {
        // Flow control per number: by default 1 a minute, 5 an hour, 10 a day, counted
        // together; the code does not say which was hit.
        "isv.BUSINESS_LIMIT_CONTROL" => RefusalKind::NumberLimited(LimitWindow::Unspecified),
        "isv.DAY_LIMIT_CONTROL" => RefusalKind::NumberLimited(LimitWindow::Day),
        "isv.MOBILE_NUMBER_ILLEGAL" => RefusalKind::NumberRefused,
        _ if explain(code).is_some() => RefusalKind::Configuration,
        _ => RefusalKind::Other,
    }
}

/// What the operator should do about `code`, for the codes a wrong setup causes.
pub(crate) fn explain(code: &str) -> Option<&'static str> {
    let text = match code {
        "InvalidAccessKeyId.NotFound" | "InvalidAccessKeyId" => {
            "The AccessKey ID is unknown to Alibaba Cloud: copy login.sms.access_key_id again \
             from the RAM console (RAM访问控制 → 用户 → AccessKey); it starts with LTAI."
        }
        "InvalidAccessKeyId.Inactive" => {
            "The AccessKey is disabled: enable it in the RAM console, or create a new one."
        }
        "SignatureDoesNotMatch" | "IncompleteSignature" => {
            "Alibaba Cloud could not verify the signature: login.sms.access_key_secret does not \
             belong to login.sms.access_key_id. Copy the secret of that same AccessKey again \
             (it is shown only when the key is created; create a new key if it was lost)."
        }
        "InvalidTimeStamp.Expired" => {
            "The request's time is too far off Alibaba Cloud's: set this server's clock right \
             (NTP)."
        }
        "Forbidden.RAM" | "Forbidden.NoPermission" | "isp.RAM_PERMISSION_DENY" | "NoPermission" => {
            "The AccessKey's RAM user may not send SMS: grant it the AliyunDysmsFullAccess \
             policy, or a custom policy allowing dysms:SendSms."
        }
        "isv.SMS_SIGNATURE_ILLEGAL" | "isv.SMS_SIGN_ILLEGAL" | "isv.SIGN_NAME_ILLEGAL" => {
            "login.sms.sign_name is not an approved signature (签名) of this account: use its \
             name exactly as approved in the SMS console."
        }
        "isv.SMS_TEMPLATE_ILLEGAL" | "isv.TEMPLATE_NOT_EXISTS" => {
            "login.sms.template_code is not an approved template of this account (a code such \
             as SMS_123456789 from the SMS console's template list), or it is of the wrong \
             kind (mainland/international)."
        }
        "isv.TEMPLATE_MISSING_PARAMETERS"
        | "isv.INVALID_JSON_PARAM"
        | "isv.TEMPLATE_PARAMS_ILLEGAL" => {
            "The template's variable is not login.sms.template_param_name: name the variable \
             that holds the code (${code} in the template is template_param_name: code)."
        }
        "isv.SMS_TEST_SIGN_TEMPLATE_LIMIT" | "isv.SMS_TEST_NUMBER_LIMIT" => {
            "The test signature and template send only to the numbers bound to them: apply for \
             a signature and template of your own."
        }
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL" => {
            "The signature may not be used with this template's kind: a verification-code \
             template needs a signature approved for verification codes."
        }
        "isv.AMOUNT_NOT_ENOUGH" | "isv.OUT_OF_SERVICE" => {
            "The account has no balance for SMS (or is suspended for arrears): top it up."
        }
        "isv.PRODUCT_UN_SUBSCRIPT" | "isv.PRODUCT_UNSUBSCRIBE" => {
            "The account has not activated Short Message Service: activate it in the console."
        }
        "isv.ACCOUNT_NOT_EXISTS" | "isv.ACCOUNT_ABNORMAL" => {
            "The account cannot use SMS (unknown or abnormal): check it in the console."
        }
        "isv.DENY_IP_RANGE" => {
            "Alibaba Cloud refuses this server's IP address for the account: check the \
             account's IP settings, or contact Alibaba Cloud."
        }
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_number_limits_and_bad_numbers_are_the_persons_and_setup_errors_the_operators() {
        assert_eq!(
            kind("isv.BUSINESS_LIMIT_CONTROL"),
            RefusalKind::NumberLimited(LimitWindow::Unspecified)
        );
        assert_eq!(
            kind("isv.DAY_LIMIT_CONTROL"),
            RefusalKind::NumberLimited(LimitWindow::Day)
        );
        assert_eq!(
            kind("isv.MOBILE_NUMBER_ILLEGAL"),
            RefusalKind::NumberRefused
        );
        for code in [
            "InvalidAccessKeyId.NotFound",
            "SignatureDoesNotMatch",
            "isv.SMS_SIGNATURE_ILLEGAL",
            "isv.SMS_TEMPLATE_ILLEGAL",
            "isv.AMOUNT_NOT_ENOUGH",
        ] {
            assert_eq!(kind(code), RefusalKind::Configuration, "{code}");
            assert!(explain(code).is_some_and(|t| t.len() > 40), "{code}");
        }
        assert_eq!(kind("isp.SYSTEM_ERROR"), RefusalKind::Other);
    }
}
