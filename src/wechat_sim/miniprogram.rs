//! The simulated Mini Program (wechat-protocol.md §9): registering it, and minting what its page
//! on the phone would get from WeChat — `wx.login` codes and phone-number button codes.

use std::time::{Duration, Instant};

use base64::Engine;
use rand::Rng;
use sha1::{Digest, Sha1};

use super::state::{IssuedCode, LoginGrant, MiniProgram, PhoneGrant, Shared};
use super::{SimHandle, SimUser};

/// How long a `wx.login` or phone button code is accepted (§9.2, §9.3: about 5 minutes).
pub(super) const CODE_TTL: Duration = Duration::from_secs(300);

/// One code image the simulator served, as requested (defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimWxaCode {
    /// The `scene` the code carries.
    pub scene: String,
    /// The page it opens; empty = the home page.
    pub page: String,
    /// `release`, `trial` or `develop`.
    pub env_version: String,
    /// Whether the page had to be published.
    pub check_path: bool,
    /// The image's width in pixels (clamped to 280..=1280 as WeChat does).
    pub width: u32,
}

impl SimHandle {
    /// From now on the simulator is also WeChat for this Mini Program: its own tokens through
    /// `token`/`stable_token`, `getwxacodeunlimit`, `jscode2session` and `getuserphonenumber`.
    /// A second call replaces the Mini Program (and forgets its codes).
    pub fn add_mini_program(&self, app_id: &str, app_secret: &str) {
        self.shared.lock().mini_program = Some(MiniProgram::new(app_id, app_secret));
    }

    /// The openid `user` has in the Mini Program: stable, and different from the Official
    /// Account's (openids are per app), while the unionid, when set, is the same in both.
    pub fn mp_openid(&self, user: &SimUser) -> String {
        self.shared.mp_openid(user)
    }

    /// A `wx.login` code, as our page on `user`'s phone would get it: `jscode2session`
    /// answers it once, within 5 minutes, with [`SimHandle::mp_openid`] and the user's
    /// unionid. Without a Mini Program it is a code WeChat never issued (40029).
    pub fn mp_login_code(&self, user: &SimUser) -> String {
        self.shared.mp_login_code(user)
    }

    /// A phone-number button code (`e.detail.code`) for `phone`: `getuserphonenumber` answers
    /// it once, within 5 minutes. `phone` is `13800138000` (a Chinese number) or
    /// `+<country code><number>`, e.g. `+8613800138000`, `+14155550100`, `+85261234567`.
    pub fn mp_phone_code(&self, phone: &str) -> String {
        self.shared.mp_phone_code(phone, None)
    }

    /// A phone-number button code for `phone` pressed by `user`: `getuserphonenumber` refuses
    /// it (40029) when the request names another openid than `user`'s in the Mini Program.
    pub fn mp_phone_code_of(&self, user: &SimUser, phone: &str) -> String {
        self.shared.mp_phone_code(phone, Some(user))
    }
}

/// What the phone's WeChat hands our page: shared by [`SimHandle`] and the simulated page a
/// URL Link opens.
impl Shared {
    /// See [`SimHandle::mp_openid`].
    pub(super) fn mp_openid(&self, user: &SimUser) -> String {
        let app_id = self
            .lock()
            .mini_program
            .as_ref()
            .map(|mp| mp.app_id.clone())
            .unwrap_or_default();
        mp_openid_for(&app_id, &user.openid)
    }

    /// See [`SimHandle::mp_login_code`].
    pub(super) fn mp_login_code(&self, user: &SimUser) -> String {
        let openid = self.mp_openid(user);
        let code = random_alphanumeric(32);
        if let Some(mp) = self.lock().mini_program.as_mut() {
            let grant = LoginGrant {
                openid,
                unionid: user.unionid.clone(),
            };
            mp.add_login_code(
                code.clone(),
                IssuedCode::new(grant, CODE_TTL),
                Instant::now(),
            );
        }
        code
    }

    /// See [`SimHandle::mp_phone_code`] and [`SimHandle::mp_phone_code_of`].
    pub(super) fn mp_phone_code(&self, phone: &str, pressed_by: Option<&SimUser>) -> String {
        let openid = pressed_by.map(|user| self.mp_openid(user));
        let grant = phone_grant(phone, openid);
        let code = random_hex(64);
        if let Some(mp) = self.lock().mini_program.as_mut() {
            let issued = IssuedCode::new(grant, CODE_TTL);
            mp.add_phone_code(code.clone(), issued, Instant::now());
        }
        code
    }
}

impl SimHandle {
    /// Lets a `wx.login` or phone code expire now: WeChat then answers 40029.
    pub fn expire_mp_code(&self, code: &str) {
        if let Some(mp) = self.shared.lock().mini_program.as_mut() {
            let now = Instant::now();
            if let Some(issued) = mp.login_codes.get_mut(code) {
                issued.valid_until = now;
            }
            if let Some(issued) = mp.phone_codes.get_mut(code) {
                issued.valid_until = now;
            }
        }
    }

    /// Marks `page` as missing from the published version: a code for it with `check_path`
    /// answers 41030. Every other well-formed page counts as published.
    pub fn unpublish_mp_page(&self, page: &str) {
        if let Some(mp) = self.shared.lock().mini_program.as_mut() {
            mp.unpublished.insert(page.to_owned());
        }
    }

    /// The latest code images served (the last 256), oldest first.
    pub fn wxacodes(&self) -> Vec<SimWxaCode> {
        self.shared
            .lock()
            .mini_program
            .as_ref()
            .map(|mp| mp.wxacodes.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// `o` and 27 characters, like real openids; derived so one user keeps one openid per app.
pub(super) fn mp_openid_for(mp_app_id: &str, oa_openid: &str) -> String {
    let digest = Sha1::new()
        .chain_update(b"mp-openid\0")
        .chain_update(mp_app_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(oa_openid.as_bytes())
        .finalize();
    format!(
        "o{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// Splits a phone number the way `phone_info` reports it (§9.3): `phoneNumber` carries the
/// country prefix only for foreign numbers.
fn phone_grant(phone: &str, openid: Option<String>) -> PhoneGrant {
    let Some(international) = phone.strip_prefix('+') else {
        return PhoneGrant {
            openid,
            phone_number: phone.to_owned(),
            pure_phone_number: phone.to_owned(),
            country_code: "86".to_owned(),
        };
    };
    // Enough of the E.164 prefix table for a simulator: the NANP and Russia have one digit,
    // Hong Kong, Macao and Taiwan three, the rest two.
    let cc_len = if international.starts_with(['1', '7']) {
        1
    } else if ["852", "853", "886"]
        .iter()
        .any(|cc| international.starts_with(cc))
    {
        3
    } else {
        2
    };
    let split = cc_len.min(international.len());
    let (country_code, pure) = international.split_at(split);
    PhoneGrant {
        openid,
        phone_number: if country_code == "86" {
            pure.to_owned()
        } else {
            phone.to_owned()
        },
        pure_phone_number: pure.to_owned(),
        country_code: country_code.to_owned(),
    }
}

fn random_alphanumeric(len: usize) -> String {
    super::api::random_string(len)
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_split_like_phone_info() {
        let cases = [
            ("13800138000", "13800138000", "13800138000", "86"),
            ("+8613800138000", "13800138000", "13800138000", "86"),
            ("+14155550100", "+14155550100", "4155550100", "1"),
            ("+85261234567", "+85261234567", "61234567", "852"),
            ("+447700900123", "+447700900123", "7700900123", "44"),
        ];
        for (given, number, pure, cc) in cases {
            let grant = phone_grant(given, None);
            assert_eq!(
                (
                    grant.phone_number.as_str(),
                    grant.pure_phone_number.as_str(),
                    grant.country_code.as_str()
                ),
                (number, pure, cc),
                "{given}"
            );
        }
    }

    #[test]
    fn mp_openids_look_real_and_differ_per_app() {
        let a = mp_openid_for("wxmp1", "oUser");
        assert_eq!(a.len(), 28);
        assert!(a.starts_with('o'));
        assert_eq!(a, mp_openid_for("wxmp1", "oUser"));
        assert_ne!(a, mp_openid_for("wxmp2", "oUser"));
        assert_ne!(a, mp_openid_for("wxmp1", "oOther"));
    }
}
