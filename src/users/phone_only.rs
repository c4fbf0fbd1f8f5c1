//! Users known by a phone number alone: made by SMS login (`login.sms_signup`), and joined by
//! the person's WeChat account when a later WeChat login proves the same phone.
//!
//! One person, one user: someone who signed up by SMS and later scans a WeChat code (and
//! proves the same number, by an SMS code or WeChat's verified number) is the same person. The
//! WeChat ids are added to the phone's user instead of refusing the number as taken. Only a
//! user with no WeChat id at all is joined this way: a number held by a user with other WeChat
//! ids stays taken, since that is somebody's WeChat account, and merging two accounts that
//! both exist is an operator's decision, not a login's.

use super::index::{claim, release, slot, Claim, Slot};
use super::{has_openid, has_phone, has_unionid, keys, record, Step, User, UserDirectory};
use super::{UsersError, RETRIES, RETRY_WAIT};
use crate::identity::{OpenId, Phone, UnionId};

impl User {
    /// Known by a phone number alone: no WeChat openid, no unionid (an SMS sign-up).
    pub fn is_phone_only(&self) -> bool {
        self.openids.is_empty() && self.unionid.is_none() && self.phone.is_some()
    }
}

impl UserDirectory {
    /// The user holding `phone`, or, when nobody does, a new user with that phone alone (SMS
    /// sign-up). Safe to race: two sign-ups of one number make one user. The caller must have
    /// proven that the phone is the caller's (an SMS code). `now` is Unix seconds.
    pub async fn register_by_phone(&self, phone: &Phone, now: u64) -> Result<User, UsersError> {
        let store = self.store.as_ref();
        let key = keys::phone(phone);
        for attempt in 0..RETRIES {
            if attempt > 0 {
                tokio::time::sleep(RETRY_WAIT).await;
            }
            let found = slot(store, &key, has_phone(phone)).await?;
            if let Slot::Owned { user, .. } = found {
                return Ok(user);
            }
            if found.is_pending(now) {
                continue;
            }
            let id = record::new_user_id();
            let raw = match claim(store, &key, &id, now, has_phone(phone)).await? {
                Claim::Won { raw, .. } => raw,
                Claim::Held(user) => return Ok(user),
                Claim::Pending => continue,
            };
            let user = User {
                id: id.clone(),
                openids: Default::default(),
                unionid: None,
                phone: Some(phone.clone()),
                created_at: now,
                last_login_at: None,
                disabled: false,
                disabled_reason: None,
                methods: Vec::new(),
            };
            if store
                .put_if_absent(&keys::user(&id), &super::index::encode(&user)?, None)
                .await?
            {
                return Ok(user);
            }
            // An 80-bit id collision: give the number back and start over with another id.
            release(store, &[(key.clone(), raw)]).await;
        }
        Err(UsersError::Busy)
    }

    /// Like [`UserDirectory::register`] with a `phone` the person has just proven (an SMS
    /// code, or the number WeChat verified), except that a number held by a phone-only user
    /// ([`User::is_phone_only`]) is not [`UsersError::PhoneTaken`]: that user is this person,
    /// and gets this WeChat account (`openid` of `app_id`, and `unionid`). A number held by a
    /// user with WeChat ids is taken, as for `register`.
    pub async fn register_with_proven_phone(
        &self,
        app_id: &str,
        openid: &OpenId,
        unionid: Option<&UnionId>,
        phone: &Phone,
        now: u64,
    ) -> Result<User, UsersError> {
        for attempt in 0..RETRIES {
            if attempt > 0 {
                tokio::time::sleep(RETRY_WAIT).await;
            }
            match self
                .register(app_id, openid, unionid, Some(phone), now)
                .await
            {
                Err(UsersError::PhoneTaken) => {}
                other => return other,
            }
            match self.join(app_id, openid, unionid, phone, now).await? {
                Step::Done(user) => return Ok(user),
                Step::Retry => continue,
            }
        }
        Err(UsersError::Busy)
    }

    /// Adds the WeChat account to the phone-only user holding `phone`. [`UsersError::PhoneTaken`]
    /// when the holder has WeChat ids; [`Step::Retry`] when the directory changed meanwhile
    /// (the number was released, or the openid registered by a racing call).
    async fn join(
        &self,
        app_id: &str,
        openid: &OpenId,
        unionid: Option<&UnionId>,
        phone: &Phone,
        now: u64,
    ) -> Result<Step, UsersError> {
        let store = self.store.as_ref();
        let holder = match slot(store, &keys::phone(phone), has_phone(phone)).await? {
            Slot::Owned { user, .. } => user,
            Slot::Free | Slot::Unconfirmed { .. } => return Ok(Step::Retry),
        };
        if !holder.is_phone_only() {
            return Err(UsersError::PhoneTaken);
        }
        let openid_key = keys::openid(app_id, openid);
        let mut claimed = Vec::new();
        match claim(
            store,
            &openid_key,
            &holder.id,
            now,
            has_openid(app_id, openid),
        )
        .await?
        {
            Claim::Won { raw, fresh } => {
                if fresh {
                    claimed.push((openid_key, raw));
                }
            }
            // Registered meanwhile (by a racing login of this person): `register` finds it.
            Claim::Held(_) | Claim::Pending => return Ok(Step::Retry),
        }
        // The unionid too, when nobody holds it (`register` linked to its owner otherwise).
        let mut with_unionid = None;
        if let Some(unionid) = unionid {
            let key = keys::unionid(unionid);
            if let Claim::Won { raw, fresh } =
                claim(store, &key, &holder.id, now, has_unionid(unionid)).await?
            {
                if fresh {
                    claimed.push((key, raw));
                }
                with_unionid = Some(unionid);
            }
        }
        let joined = self
            .update(&holder.id, |u| {
                // Still the phone-only user read above (or this very join, retried).
                let ours = u.openids.is_empty() || u.openid(app_id) == Some(openid);
                if !ours || u.phone.as_ref() != Some(phone) {
                    return Err(UsersError::PhoneTaken);
                }
                u.openids.insert(app_id.to_string(), openid.clone());
                if let Some(unionid) = with_unionid {
                    u.unionid.get_or_insert_with(|| unionid.clone());
                }
                Ok(())
            })
            .await;
        match joined {
            Ok(user) => {
                tracing::info!(user = %user.id, app_id, "a WeChat account joined the user who signed up with its phone");
                Ok(Step::Done(user))
            }
            Err(e) => {
                release(store, &claimed).await;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::task::JoinSet;

    use super::*;
    use crate::store::{SqliteStore, Store};

    const OA: &str = "wx_official_account";
    const MP: &str = "wx_mini_program";
    const NOW: u64 = 1_700_000_000;

    fn directory() -> (tempfile::TempDir, UserDirectory) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("u.db")).unwrap());
        (dir, UserDirectory::new(store))
    }

    fn phone(s: &str) -> Phone {
        Phone::parse(s).unwrap()
    }

    #[tokio::test]
    async fn an_sms_sign_up_is_a_user_with_the_phone_alone_and_found_by_it() {
        let (_dir, users) = directory();
        let p = phone("13800138000");
        let user = users.register_by_phone(&p, NOW).await.unwrap();
        assert!(user.is_phone_only());
        assert_eq!(user.phone.as_ref(), Some(&p));
        assert_eq!(users.find_by_phone(&p).await.unwrap(), Some(user.clone()));
        // Again: the same user, not a second one.
        let again = users.register_by_phone(&p, NOW + 5).await.unwrap();
        assert_eq!(again.id, user.id);
    }

    #[tokio::test]
    async fn racing_sign_ups_of_one_number_make_one_user() {
        let (_dir, users) = directory();
        let mut set = JoinSet::new();
        for _ in 0..8 {
            let users = users.clone();
            set.spawn(async move {
                users
                    .register_by_phone(&phone("13800138001"), NOW)
                    .await
                    .unwrap()
                    .id
            });
        }
        let mut ids = Vec::new();
        while let Some(id) = set.join_next().await {
            ids.push(id.unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }

    #[tokio::test]
    async fn a_wechat_login_proving_the_phone_joins_the_phone_only_user() {
        let (_dir, users) = directory();
        let p = phone("13800138002");
        let sms_user = users.register_by_phone(&p, NOW).await.unwrap();
        let openid = OpenId::new("o-oa");
        let unionid = UnionId::new("un-1");
        let joined = users
            .register_with_proven_phone(OA, &openid, Some(&unionid), &p, NOW + 1)
            .await
            .unwrap();
        assert_eq!(joined.id, sms_user.id, "the same person, the same user");
        assert_eq!(joined.openid(OA), Some(&openid));
        assert_eq!(joined.unionid.as_ref(), Some(&unionid));
        assert!(!joined.is_phone_only());
        assert_eq!(
            users
                .find_by_openid(OA, &openid)
                .await
                .unwrap()
                .map(|u| u.id),
            Some(sms_user.id.clone())
        );
        assert_eq!(
            users.find_by_unionid(&unionid).await.unwrap().map(|u| u.id),
            Some(sms_user.id.clone())
        );
        // The same call again (a retried login) answers the same user.
        let again = users
            .register_with_proven_phone(OA, &openid, Some(&unionid), &p, NOW + 2)
            .await
            .unwrap();
        assert_eq!(again.id, sms_user.id);
    }

    #[tokio::test]
    async fn a_phone_held_by_a_user_with_wechat_ids_stays_taken() {
        let (_dir, users) = directory();
        let p = phone("13800138003");
        let sms_user = users.register_by_phone(&p, NOW).await.unwrap();
        users
            .register_with_proven_phone(OA, &OpenId::new("o-first"), None, &p, NOW)
            .await
            .unwrap();
        // Another WeChat account (another person's Mini Program openid, no unionid) proving
        // the same number: the number belongs to a WeChat user now.
        let second = users
            .register_with_proven_phone(MP, &OpenId::new("o-other"), None, &p, NOW + 1)
            .await;
        assert!(matches!(second, Err(UsersError::PhoneTaken)), "{second:?}");
        assert_eq!(
            users
                .find_by_openid(MP, &OpenId::new("o-other"))
                .await
                .unwrap(),
            None,
            "nobody was created or changed"
        );
        let holder = users.get(&sms_user.id).await.unwrap().unwrap();
        assert_eq!(holder.openids.len(), 1);
        // A WeChat user registered with a phone is no phone-only user either.
        let q = phone("13800138004");
        users
            .register(OA, &OpenId::new("o-wx"), None, Some(&q), NOW)
            .await
            .unwrap();
        let taken = users
            .register_with_proven_phone(OA, &OpenId::new("o-wx2"), None, &q, NOW)
            .await;
        assert!(matches!(taken, Err(UsersError::PhoneTaken)), "{taken:?}");
    }

    #[tokio::test]
    async fn a_free_number_registers_a_new_wechat_user_with_it() {
        let (_dir, users) = directory();
        let p = phone("13800138005");
        let user = users
            .register_with_proven_phone(OA, &OpenId::new("o-new"), None, &p, NOW)
            .await
            .unwrap();
        assert_eq!(user.phone.as_ref(), Some(&p));
        assert_eq!(user.openid(OA), Some(&OpenId::new("o-new")));
    }
}
