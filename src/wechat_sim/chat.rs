//! The phone in everyday use, beyond logging in: the follower writes to the account, taps a
//! menu button, follows from search, unfollows. Each push is built as WeChat builds it
//! (wechat-protocol.md §5.3–5.5), signed and encrypted per the push mode, and POSTed to the
//! callback like a scan; the outcome holds the reply as WeChat reads it.
//!
//! The simulator does not stop a user who does not follow from writing, nor check that a
//! clicked key is in the current menu: tests choose what the phone does.

use rand::Rng;

use super::wire::{event_xml, text_xml};
use super::{state, unix_now, ScanOutcome, SimError, SimHandle, SimUser};

impl SimHandle {
    /// The user sends the text `content` to the account: a `text` message with a fresh
    /// 64-bit `MsgId`.
    pub async fn send_text(&self, user: &SimUser, content: &str) -> Result<ScanOutcome, SimError> {
        let msg_id = rand::thread_rng().gen_range(10_000_000_000_000_000u64..u64::MAX);
        let xml = text_xml(&self.original_id, &user.openid, unix_now(), content, msg_id);
        self.push_raw(&xml).await
    }

    /// The user taps a `click` button of the menu: event `CLICK` with `EventKey` = `key`.
    pub async fn click_menu(&self, user: &SimUser, key: &str) -> Result<ScanOutcome, SimError> {
        let xml = event_xml(
            &self.original_id,
            &user.openid,
            unix_now(),
            "CLICK",
            Some(key),
            None,
        );
        self.push_raw(&xml).await
    }

    /// The user follows the account from search or its profile card: a plain `subscribe`
    /// without `EventKey` or `Ticket` (§5.3). From then on `user/info` reports them as
    /// following, through `ADD_SCENE_SEARCH`.
    pub async fn follow(&self, user: &SimUser) -> Result<ScanOutcome, SimError> {
        let now = unix_now();
        {
            let mut inner = self.shared.lock();
            let record = Self::record(&mut inner, user);
            record.subscribed = true;
            record.subscribe_time = now;
            record.qr_scene_str = None;
        }
        let xml = event_xml(
            &self.original_id,
            &user.openid,
            now,
            "subscribe",
            None,
            None,
        );
        self.push_raw(&xml).await
    }

    /// The user unfollows: `unsubscribe` (§5.4). From then on `user/info` reports them as
    /// not following. WeChat shows them no reply, whatever the callback answers.
    pub async fn unfollow(&self, user: &SimUser) -> Result<ScanOutcome, SimError> {
        let now = unix_now();
        {
            let mut inner = self.shared.lock();
            let record = Self::record(&mut inner, user);
            record.subscribed = false;
            record.qr_scene_str = None;
        }
        let xml = event_xml(
            &self.original_id,
            &user.openid,
            now,
            "unsubscribe",
            None,
            None,
        );
        self.push_raw(&xml).await
    }

    /// The simulator's record of `user`, created on first sight, with the user's unionid.
    fn record<'a>(inner: &'a mut state::Inner, user: &SimUser) -> &'a mut state::UserRecord {
        let record = inner
            .users
            .entry(user.openid.clone())
            .or_insert(state::UserRecord {
                unionid: None,
                subscribed: false,
                subscribe_time: 0,
                qr_scene_str: None,
            });
        record.unionid = user.unionid.clone();
        record
    }
}
