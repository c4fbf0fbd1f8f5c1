//! Tencent Cloud SMS error codes (SendSms 2021-01-11, "错误码"): what each means for the
//! person, and for the codes the account's setup causes, what the operator must fix.

use crate::sms::error::{LimitWindow, RefusalKind};

/// What a refusal with `code` means for the person.
pub(crate) fn kind(code: &str) -> RefusalKind {
    match code {
        "LimitExceeded.PhoneNumberThirtySecondLimit" => {
            RefusalKind::NumberLimited(LimitWindow::ThirtySeconds)
        }
        "LimitExceeded.PhoneNumberOneHourLimit" => RefusalKind::NumberLimited(LimitWindow::Hour),
        "LimitExceeded.PhoneNumberDailyLimit"
        | "LimitExceeded.PhoneNumberSameContentDailyLimit" => {
            RefusalKind::NumberLimited(LimitWindow::Day)
        }
        "LimitExceeded.DeliveryFrequencyLimit" => {
            RefusalKind::NumberLimited(LimitWindow::Unspecified)
        }
        "InvalidParameterValue.IncorrectPhoneNumber"
        | "FailedOperation.PhoneNumberParseFail"
        | "FailedOperation.PhoneNumberInBlacklist"
        | "UnsupportedOperation.UnsupportedRegion" => RefusalKind::NumberRefused,
        _ if explain(code).is_some() => RefusalKind::Configuration,
        _ => RefusalKind::Other,
    }
}

/// What the operator should do about `code`, for the codes a wrong setup causes.
pub(crate) fn explain(code: &str) -> Option<&'static str> {
    let text = match code {
        "AuthFailure.SecretIdNotFound" | "AuthFailure.InvalidSecretId" => {
            "The SecretId is unknown to Tencent Cloud: copy login.sms.secret_id again from the \
             console's API keys page (访问管理 → API密钥管理); it starts with AKID. A key that \
             was deleted or disabled is refused the same way."
        }
        "AuthFailure.SignatureFailure" => {
            "Tencent Cloud could not verify the signature: login.sms.secret_key does not belong \
             to login.sms.secret_id. Copy the SecretKey of that same key pair again."
        }
        "AuthFailure.SignatureExpire" => {
            "The request's time is more than 5 minutes off Tencent Cloud's: set this server's \
             clock right (NTP)."
        }
        "AuthFailure.UnauthorizedOperation" | "UnauthorizedOperation.RequestPermissionDeny" => {
            "The key's user may not send SMS. In CAM, grant it the QcloudSMSFullAccess policy, or \
             a custom policy allowing sms:SendSms."
        }
        "UnauthorizedOperation.SmsSdkAppIdVerifyFail"
        | "InvalidParameterValue.SdkAppIdNotExist" => {
            "login.sms.sdk_app_id is not an SMS application of this account. Copy the SdkAppId \
             from the SMS console (应用管理 → 应用列表)."
        }
        "UnauthorizedOperation.RequestIpNotInWhitelist" => {
            "The SMS application only accepts requests from listed IP addresses: add this \
             server's public IP address to its whitelist in the SMS console."
        }
        "UnauthorizedOperation.SerivceSuspendDueToArrears" => {
            "The Tencent Cloud account is in arrears and SMS is suspended: top up the account."
        }
        "FailedOperation.SignatureIncorrectOrUnapproved" => {
            "login.sms.sign_name is not an approved signature (签名) of this SMS application: \
             use its content exactly as approved, not its ID."
        }
        "FailedOperation.TemplateIncorrectOrUnapproved" => {
            "login.sms.template_id is not an approved template (正文模板) of this SMS \
             application, or it is a template of the other kind (mainland/international)."
        }
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
        | "InvalidParameterValue.TemplateParameterFormatError"
        | "InvalidParameterValue.TemplateParameterLengthLimit" => {
            "The template's parameters do not fit login.sms.template_params: list one value per \
             {n} of the template, in order (a verification template has {1} for the code, \
             maybe {2} for the minutes it lasts), and make its variables of the verification \
             code type."
        }
        "FailedOperation.InsufficientBalanceInSmsPackage" => {
            "The account has no SMS left in its package: buy a package (套餐包) in the SMS \
             console."
        }
        "LimitExceeded.AppDailyLimit"
        | "LimitExceeded.AppCountryOrRegionDailyLimit"
        | "LimitExceeded.AppCountryOrRegionInBlacklist" => {
            "The SMS application's own limit (total per day, or per country) stops the sending: \
             raise it in the SMS console's frequency settings (发送频率限制)."
        }
        "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone"
        | "UnsupportedOperation.GlobalTemplateToChineseMainlandPhone"
        | "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber" => {
            "Mainland China numbers need a mainland template and signature, other numbers an \
             international one: use a template of the right kind, or limit \
             login.phone_countries to the numbers it serves."
        }
        "FailedOperation.ContainSensitiveWord" => {
            "Tencent Cloud refused the text of the template: revise it in the SMS console."
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
            kind("LimitExceeded.PhoneNumberDailyLimit"),
            RefusalKind::NumberLimited(LimitWindow::Day)
        );
        assert_eq!(
            kind("LimitExceeded.PhoneNumberOneHourLimit"),
            RefusalKind::NumberLimited(LimitWindow::Hour)
        );
        assert_eq!(
            kind("LimitExceeded.PhoneNumberThirtySecondLimit"),
            RefusalKind::NumberLimited(LimitWindow::ThirtySeconds)
        );
        assert_eq!(
            kind("LimitExceeded.PhoneNumberSameContentDailyLimit"),
            RefusalKind::NumberLimited(LimitWindow::Day)
        );
        assert_eq!(
            kind("InvalidParameterValue.IncorrectPhoneNumber"),
            RefusalKind::NumberRefused
        );
        assert_eq!(
            kind("FailedOperation.PhoneNumberInBlacklist"),
            RefusalKind::NumberRefused
        );
        for code in [
            "AuthFailure.SignatureFailure",
            "AuthFailure.SecretIdNotFound",
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
        ] {
            assert_eq!(kind(code), RefusalKind::Configuration, "{code}");
            assert!(explain(code).is_some_and(|t| t.len() > 40), "{code}");
        }
        assert_eq!(kind("InternalError.Timeout"), RefusalKind::Other);
        assert_eq!(explain("InternalError.Timeout"), None);
    }
}
