//! Which language a page speaks, chosen from `Accept-Language`.

/// The languages pages and the widget are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// Chinese when the language the browser likes best (highest `q`, the first of equals)
    /// starts with `zh`; English otherwise, also for a missing or unreadable header. Entries
    /// with `q=0` or an unreadable `q` are not acceptable and are skipped.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let mut best: Option<(&str, f32)> = None;
        for item in header.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            if tag.is_empty() {
                continue;
            }
            let mut q = 1.0_f32;
            for param in parts {
                let param = param.trim();
                if let Some(v) = param
                    .strip_prefix("q=")
                    .or_else(|| param.strip_prefix("Q="))
                {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if q.is_nan() || q <= 0.0 {
                continue;
            }
            if best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((tag, q));
            }
        }
        match best {
            Some((tag, _))
                if tag
                    .as_bytes()
                    .get(..2)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"zh")) =>
            {
                Lang::Zh
            }
            _ => Lang::En,
        }
    }

    /// The widget's `lang` option: `zh` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The value of `<html lang>`.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    fn pick(header: &str) -> Lang {
        Lang::from_accept_language(Some(header))
    }

    #[test]
    fn missing_or_empty_header_is_english() {
        assert_eq!(Lang::from_accept_language(None), Lang::En);
        assert_eq!(pick(""), Lang::En);
        assert_eq!(pick(" , ;q=1"), Lang::En);
    }

    #[test]
    fn typical_browsers() {
        assert_eq!(pick("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(pick("zh-TW"), Lang::Zh);
        assert_eq!(pick("ZH-hans"), Lang::Zh);
        assert_eq!(pick("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(pick("fr-FR,fr;q=0.9"), Lang::En);
        assert_eq!(pick("*"), Lang::En);
    }

    #[test]
    fn highest_q_wins_regardless_of_order() {
        assert_eq!(pick("en;q=0.5, zh-CN;q=0.8"), Lang::Zh);
        assert_eq!(pick("zh;q=0.5, en"), Lang::En);
        assert_eq!(pick("en;q=0.7,zh;q=0.7"), Lang::En, "first of equals");
    }

    #[test]
    fn zero_and_unreadable_q_are_not_acceptable() {
        assert_eq!(pick("zh;q=0, en;q=0.1"), Lang::En);
        assert_eq!(pick("zh;q=abc, en;q=0.1"), Lang::En);
        assert_eq!(pick("en;q=NaN, zh;q=0.1"), Lang::Zh);
        assert_eq!(pick("zh;q=0"), Lang::En);
    }

    #[test]
    fn non_ascii_tags_do_not_panic() {
        assert_eq!(pick("中文,z"), Lang::En);
        assert_eq!(pick("z\u{e9}"), Lang::En);
    }
}
