//! The Official Account's custom menu: `POST /cgi-bin/menu/create` and
//! `GET /cgi-bin/get_current_selfmenu_info`. Once a server URL is configured, the menu of the
//! admin console stops working and the menu must be pushed through this API.
//!
//! [`Menu`] is the JSON `menu/create` takes. [`Menu::validate`] checks WeChat's documented
//! limits locally and reports every problem at once, with its path, because WeChat stops at the
//! first one and names no button (`40018 invalid button name size`).

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{Api, Error, WechatClient};

/// Most top-level buttons (40016).
pub const MAX_BUTTONS: usize = 3;
/// Most sub-buttons under one top-level button (40023).
pub const MAX_SUB_BUTTONS: usize = 5;
/// Longest top-level button name, in UTF-8 bytes (40018).
pub const MAX_BUTTON_NAME_BYTES: usize = 16;
/// Longest sub-button name, in UTF-8 bytes (40025).
pub const MAX_SUB_BUTTON_NAME_BYTES: usize = 60;
/// Longest `key`, in bytes (40019, 40026).
pub const MAX_KEY_BYTES: usize = 128;
/// Longest `url`, in bytes (40020, 40027).
pub const MAX_URL_BYTES: usize = 1024;

/// Button types whose click is pushed to the callback with the button's `key` as `EventKey`.
const KEY_TYPES: [&str; 7] = [
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];

/// Every button type `menu/create` takes.
pub const BUTTON_TYPES: [&str; 13] = [
    "click",
    "view",
    "miniprogram",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "view_limited",
    "article_id",
    "article_view_limited",
];

/// A custom menu, as `menu/create` takes it: `{"button": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// 1..=3 top-level buttons.
    pub button: Vec<Button>,
}

/// One button. A top-level button either has a `type` (and the fields that type needs) or a
/// non-empty `sub_button` list; sub-buttons always have a `type`. Unknown fields are refused
/// when reading, so a misspelt `pagePath` in a menu file is an error, not a silent omission.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    /// `type`: one of [`BUTTON_TYPES`].
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The label: at most 16 bytes on the top level, 60 below (a Chinese character is 3).
    #[serde(default)]
    pub name: String,
    /// `EventKey` of the push for `click`, `scancode_*`, `pic_*`, `location_select`; ≤ 128 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The page a `view` button opens; for `miniprogram`, the page for clients without Mini
    /// Program support. `http://` or `https://`, ≤ 1024 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The Mini Program a `miniprogram` button opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// The Mini Program page a `miniprogram` button opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
    /// The permanent material a `media_id` or `view_limited` button sends or opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// The published article an `article_id` or `article_view_limited` button sends or opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    /// Up to 5 sub-buttons, top level only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_button: Vec<Button>,
}

impl Menu {
    /// Checks the menu against WeChat's documented limits. `Err` lists every problem found,
    /// in menu order, each as `<path>: <problem>`, e.g.
    /// `button[1].sub_button[0].name: 61 bytes, at most 60`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.button.is_empty() {
            problems.push("button: empty, at least 1 button".to_owned());
        } else if self.button.len() > MAX_BUTTONS {
            problems.push(format!(
                "button: {} buttons, at most {MAX_BUTTONS}",
                self.button.len()
            ));
        }
        for (i, button) in self.button.iter().enumerate() {
            let path = format!("button[{i}]");
            if button.sub_button.is_empty() {
                button.check(&path, true, &mut problems);
                continue;
            }
            check_name(&button.name, &path, MAX_BUTTON_NAME_BYTES, &mut problems);
            if button.sub_button.len() > MAX_SUB_BUTTONS {
                problems.push(format!(
                    "{path}.sub_button: {} sub-buttons, at most {MAX_SUB_BUTTONS}",
                    button.sub_button.len()
                ));
            }
            for (j, sub) in button.sub_button.iter().enumerate() {
                let path = format!("{path}.sub_button[{j}]");
                sub.check(&path, false, &mut problems);
                if !sub.sub_button.is_empty() {
                    problems.push(format!(
                        "{path}.sub_button: a menu has two levels; a sub-button cannot have sub-buttons"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl Button {
    /// The problems of a button that acts by itself (no sub-buttons), on the top level or not.
    fn check(&self, path: &str, top: bool, problems: &mut Vec<String>) {
        let max_name = if top {
            MAX_BUTTON_NAME_BYTES
        } else {
            MAX_SUB_BUTTON_NAME_BYTES
        };
        check_name(&self.name, path, max_name, problems);
        let Some(kind) = self.kind.as_deref().filter(|k| !k.is_empty()) else {
            problems.push(if top {
                format!("{path}.type: missing; give the button a type or sub-buttons")
            } else {
                format!("{path}.type: missing")
            });
            return;
        };
        if !BUTTON_TYPES.contains(&kind) {
            problems.push(format!(
                "{path}.type: unknown {kind:?}, expected one of {}",
                BUTTON_TYPES.join(", ")
            ));
        }
        let needs = |field: &str| -> bool {
            match field {
                "key" => KEY_TYPES.contains(&kind),
                "url" => matches!(kind, "view" | "miniprogram"),
                "appid" | "pagepath" => kind == "miniprogram",
                "media_id" => matches!(kind, "media_id" | "view_limited"),
                "article_id" => matches!(kind, "article_id" | "article_view_limited"),
                _ => false,
            }
        };
        let fields = [
            ("key", &self.key, Some(MAX_KEY_BYTES)),
            ("url", &self.url, Some(MAX_URL_BYTES)),
            ("appid", &self.appid, None),
            ("pagepath", &self.pagepath, None),
            ("media_id", &self.media_id, None),
            ("article_id", &self.article_id, None),
        ];
        for (field, value, max) in fields {
            match value.as_deref().filter(|v| !v.is_empty()) {
                None if needs(field) => {
                    problems.push(format!("{path}.{field}: missing; a {kind} button needs it"));
                }
                None => {}
                Some(value) => {
                    if let Some(max) = max.filter(|max| value.len() > *max) {
                        problems.push(format!(
                            "{path}.{field}: {} bytes, at most {max}",
                            value.len()
                        ));
                    }
                    if field == "url" && !is_web_link(value) {
                        problems.push(format!("{path}.url: must start with http:// or https://"));
                    }
                }
            }
        }
    }
}

fn check_name(name: &str, path: &str, max: usize, problems: &mut Vec<String>) {
    if name.is_empty() {
        problems.push(format!("{path}.name: missing"));
    } else if name.len() > max {
        problems.push(format!("{path}.name: {} bytes, at most {max}", name.len()));
    }
}

/// `http://` or `https://` (any case) followed by a host.
fn is_web_link(url: &str) -> bool {
    let after = |scheme: &str| {
        url.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .and_then(|_| url.get(scheme.len()..))
    };
    after("https://")
        .or_else(|| after("http://"))
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '[')
}

impl WechatClient {
    /// `POST /cgi-bin/menu/create`: replaces the account's menu with `menu`. A menu that fails
    /// [`Menu::validate`] is refused with [`Error::InvalidMenu`] before anything is sent.
    /// WeChat's clients show the new menu within minutes (cached per user).
    pub async fn create_menu(&self, menu: &Menu) -> Result<(), Error> {
        menu.validate().map_err(Error::InvalidMenu)?;
        let url = format!("{}/cgi-bin/menu/create", self.base);
        // serde_json writes non-ASCII as raw UTF-8, which WeChat needs (§1): escaped
        // `\uXXXX` names were refused with 40033.
        let _: IgnoredAny = self
            .with_token(Api::MenuCreate, |token| {
                self.http
                    .post(&url)
                    .query(&[("access_token", token.expose())])
                    .json(menu)
            })
            .await?;
        Ok(())
    }

    /// `GET /cgi-bin/get_current_selfmenu_info`: the menu in use, as WeChat gives it
    /// (`{"is_menu_open": 0|1, "selfmenu_info": {"button": [...]}}`, sub-buttons under
    /// `sub_button.list`), whether it was set through the API or the admin console.
    pub async fn current_menu(&self) -> Result<serde_json::Value, Error> {
        let url = format!("{}/cgi-bin/get_current_selfmenu_info", self.base);
        self.with_token(Api::MenuGet, |token| {
            self.http
                .get(&url)
                .query(&[("access_token", token.expose())])
        })
        .await
    }
}

#[cfg(test)]
mod tests;
