//! The user directory: who a WeChat account is in scangate, found by openid, unionid or phone.
//!
//! One person, one user: an openid is unique per app id, and a unionid or a phone number
//! belongs to at most one user. Records and indexes live in the [`Store`] without TTL. How
//! uniqueness holds without multi-key transactions, and what a crash leaves behind, is
//! described in `index.rs`: in short, the index key is claimed first (`put_if_absent`), the
//! record is written second, and an index entry whose record does not confirm it is ignored by
//! lookups and taken over by the next claimer once [`CLAIM_GRACE_SECONDS`] have passed.
//! A crash can also leave an orphan record that no index names; it is never found and harms
//! nothing.

pub mod admin;
mod index;
mod keys;
pub mod ops;
mod phone_only;
mod record;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::identity::{LoginMethod, OpenId, Phone, UnionId, UserId};
use crate::store::{self, Store};

use index::{claim, release, slot, Claim, Slot};

pub use index::CLAIM_GRACE_SECONDS;
pub use record::User;

/// How long to wait before retrying when another operation on the same person is in flight.
const RETRY_WAIT: Duration = Duration::from_millis(25);
/// Retries before answering [`UsersError::Busy`] (about one second of waiting).
const RETRIES: usize = 40;
/// Compare-and-swap attempts on one record before giving up.
const UPDATE_ROUNDS: usize = 16;

/// Why a directory operation failed. Never carries a phone number or openid.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("no such user")]
    NotFound,
    /// The phone number is bound to another user.
    #[error("this phone number is already bound to another account")]
    PhoneTaken,
    /// The user already has a different phone number (changing it is not supported).
    #[error("this user already has a different phone number")]
    PhoneAlreadyBound,
    /// Another operation on the same person did not finish in time (or, after a crash, its
    /// leftovers are not yet stale). Safe to retry.
    #[error("another change to this user is in progress; retry")]
    Busy,
    /// A stored record or index entry is not valid JSON of the expected shape.
    #[error("a stored user record cannot be read")]
    Corrupt,
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The user directory over a shared store.
#[derive(Clone)]
pub struct UserDirectory {
    store: Arc<dyn Store>,
}

/// Result of one attempt at a multi-step change that may have to start over.
enum Step {
    Done(User),
    Retry,
}

impl UserDirectory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        UserDirectory { store }
    }

    /// The user with this id.
    pub async fn get(&self, id: &UserId) -> Result<Option<User>, UsersError> {
        index::read_user(self.store.as_ref(), id).await
    }

    /// The user with this openid in `app_id`.
    pub async fn find_by_openid(
        &self,
        app_id: &str,
        openid: &OpenId,
    ) -> Result<Option<User>, UsersError> {
        self.find(&keys::openid(app_id, openid), has_openid(app_id, openid))
            .await
    }

    /// The user with this unionid.
    pub async fn find_by_unionid(&self, unionid: &UnionId) -> Result<Option<User>, UsersError> {
        self.find(&keys::unionid(unionid), has_unionid(unionid))
            .await
    }

    /// The user this phone number is bound to.
    pub async fn find_by_phone(&self, phone: &Phone) -> Result<Option<User>, UsersError> {
        self.find(&keys::phone(phone), has_phone(phone)).await
    }

    async fn find(
        &self,
        key: &str,
        holds: impl Fn(&User) -> bool,
    ) -> Result<Option<User>, UsersError> {
        match slot(self.store.as_ref(), key, holds).await? {
            Slot::Owned { user, .. } => Ok(Some(user)),
            Slot::Free | Slot::Unconfirmed { .. } => Ok(None),
        }
    }

    /// The user for this WeChat account, created if new. Idempotent and safe to race:
    /// - `(app_id, openid)` already known → that user;
    /// - else `unionid` known → that user, now also holding this openid (one person, one user);
    /// - else a new user with `created_at = now`.
    ///
    /// `unionid` is attached to a known user who has none yet (when it is free). `phone`, if
    /// given, is then bound as by [`UserDirectory::bind_phone`]; for a new user it is checked
    /// first, so [`UsersError::PhoneTaken`] creates nobody. `now` is Unix seconds.
    pub async fn register(
        &self,
        app_id: &str,
        openid: &OpenId,
        unionid: Option<&UnionId>,
        phone: Option<&Phone>,
        now: u64,
    ) -> Result<User, UsersError> {
        let store = self.store.as_ref();
        let openid_key = keys::openid(app_id, openid);
        for attempt in 0..RETRIES {
            if attempt > 0 {
                tokio::time::sleep(RETRY_WAIT).await;
            }
            let known = slot(store, &openid_key, has_openid(app_id, openid)).await?;
            if let Slot::Owned { user, .. } = known {
                return self.complete(user, unionid, phone, now).await;
            }
            if known.is_pending(now) {
                continue;
            }
            if let Some(unionid) = unionid {
                let sibling = slot(store, &keys::unionid(unionid), has_unionid(unionid)).await?;
                if let Slot::Owned { user: owner, .. } = sibling {
                    match self.link(owner, app_id, openid, now).await? {
                        Step::Done(user) => return self.complete(user, None, phone, now).await,
                        Step::Retry => continue,
                    }
                }
                if sibling.is_pending(now) {
                    continue;
                }
            }
            match self.create(app_id, openid, unionid, phone, now).await? {
                Step::Done(user) => return Ok(user),
                Step::Retry => continue,
            }
        }
        Err(UsersError::Busy)
    }

    /// Binds `phone` to the user `id`. Binding the phone the user already has is a no-op;
    /// a phone bound to another user is [`UsersError::PhoneTaken`]; a user with a different
    /// phone is [`UsersError::PhoneAlreadyBound`]. `now` is Unix seconds.
    pub async fn bind_phone(
        &self,
        id: &UserId,
        phone: &Phone,
        now: u64,
    ) -> Result<User, UsersError> {
        let store = self.store.as_ref();
        let key = keys::phone(phone);
        for attempt in 0..RETRIES {
            if attempt > 0 {
                tokio::time::sleep(RETRY_WAIT).await;
            }
            let user = self.get(id).await?.ok_or(UsersError::NotFound)?;
            match &user.phone {
                Some(p) if p == phone => return Ok(user),
                Some(_) => return Err(UsersError::PhoneAlreadyBound),
                None => {}
            }
            match claim(store, &key, id, now, has_phone(phone)).await? {
                Claim::Won { raw, fresh } => {
                    let bound = self
                        .update(id, |u| match &u.phone {
                            None => {
                                u.phone = Some(phone.clone());
                                Ok(())
                            }
                            Some(p) if p == phone => Ok(()),
                            Some(_) => Err(UsersError::PhoneAlreadyBound),
                        })
                        .await;
                    if bound.is_err() && fresh {
                        release(store, &[(key, raw)]).await;
                    }
                    return bound;
                }
                Claim::Held(_) => return Err(UsersError::PhoneTaken),
                Claim::Pending => continue,
            }
        }
        Err(UsersError::Busy)
    }

    /// Records a completed login by `method` at `now` (Unix seconds). The first login by a
    /// method also (re)lists the user, so users created before the list existed join it.
    pub async fn record_login(
        &self,
        id: &UserId,
        method: LoginMethod,
        now: u64,
    ) -> Result<User, UsersError> {
        let mut first_by_method = false;
        let user = self
            .update(id, |u| {
                u.last_login_at = Some(now);
                first_by_method = !u.methods.contains(&method);
                if first_by_method {
                    u.methods.push(method);
                }
                Ok(())
            })
            .await?;
        if first_by_method {
            admin::list(self.store.as_ref(), &user).await?;
        }
        Ok(user)
    }

    /// Disables (or re-enables) a user. Their record and indexes stay.
    pub async fn set_disabled(&self, id: &UserId, disabled: bool) -> Result<User, UsersError> {
        self.update(id, |u| {
            u.disabled = disabled;
            Ok(())
        })
        .await
    }

    /// The finishing touches of `register` for a user found or linked.
    async fn complete(
        &self,
        mut user: User,
        unionid: Option<&UnionId>,
        phone: Option<&Phone>,
        now: u64,
    ) -> Result<User, UsersError> {
        if let (Some(unionid), None) = (unionid, &user.unionid) {
            user = self.attach_unionid(user, unionid, now).await?;
        }
        match phone {
            Some(phone) => self.bind_phone(&user.id, phone, now).await,
            None => Ok(user),
        }
    }

    /// Gives `user` the `unionid` WeChat reported, if nobody else has it. Best effort: a
    /// unionid held by another user means two users exist for one person already, which this
    /// login cannot fix; it goes on with the user the openid named.
    async fn attach_unionid(
        &self,
        user: User,
        unionid: &UnionId,
        now: u64,
    ) -> Result<User, UsersError> {
        let store = self.store.as_ref();
        let key = keys::unionid(unionid);
        match claim(store, &key, &user.id, now, has_unionid(unionid)).await? {
            Claim::Won { raw, fresh } => {
                let attached = self
                    .update(&user.id, |u| {
                        u.unionid.get_or_insert_with(|| unionid.clone());
                        Ok(())
                    })
                    .await;
                let keep = matches!(&attached, Ok(u) if u.unionid.as_ref() == Some(unionid));
                if !keep && fresh {
                    release(store, &[(key, raw)]).await;
                }
                attached
            }
            Claim::Held(_) | Claim::Pending => {
                tracing::warn!(user = %user.id, "unionid already claimed by another user; not attached");
                Ok(user)
            }
        }
    }

    /// Adds `openid` in `app_id` to `owner` (found by unionid).
    async fn link(
        &self,
        owner: User,
        app_id: &str,
        openid: &OpenId,
        now: u64,
    ) -> Result<Step, UsersError> {
        let key = keys::openid(app_id, openid);
        match claim(
            self.store.as_ref(),
            &key,
            &owner.id,
            now,
            has_openid(app_id, openid),
        )
        .await?
        {
            Claim::Won { .. } => {
                let user = self
                    .update(&owner.id, |u| {
                        u.openids.insert(app_id.to_string(), openid.clone());
                        Ok(())
                    })
                    .await?;
                Ok(Step::Done(user))
            }
            // Registered meanwhile by a racing call: that user it is.
            Claim::Held(user) => Ok(Step::Done(user)),
            Claim::Pending => Ok(Step::Retry),
        }
    }

    /// Creates a new user holding all the given identifiers, or claims nothing.
    async fn create(
        &self,
        app_id: &str,
        openid: &OpenId,
        unionid: Option<&UnionId>,
        phone: Option<&Phone>,
        now: u64,
    ) -> Result<Step, UsersError> {
        let store = self.store.as_ref();
        let id = record::new_user_id();
        let mut claimed = Vec::new();
        let created = self
            .create_claims(&id, app_id, openid, unionid, phone, now, &mut claimed)
            .await;
        if !matches!(created, Ok(Step::Done(_))) {
            release(store, &claimed).await;
        }
        created
    }

    #[allow(clippy::too_many_arguments)] // the private half of `create`
    async fn create_claims(
        &self,
        id: &UserId,
        app_id: &str,
        openid: &OpenId,
        unionid: Option<&UnionId>,
        phone: Option<&Phone>,
        now: u64,
        claimed: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<Step, UsersError> {
        let store = self.store.as_ref();
        // The openid first: it decides whether this person is being registered by a racing call.
        let key = keys::openid(app_id, openid);
        match claim(store, &key, id, now, has_openid(app_id, openid)).await? {
            Claim::Won { raw, .. } => claimed.push((key, raw)),
            Claim::Held(_) | Claim::Pending => return Ok(Step::Retry),
        }
        if let Some(unionid) = unionid {
            let key = keys::unionid(unionid);
            match claim(store, &key, id, now, has_unionid(unionid)).await? {
                Claim::Won { raw, .. } => claimed.push((key, raw)),
                // Held: the next round links this openid to the unionid's owner.
                Claim::Held(_) | Claim::Pending => return Ok(Step::Retry),
            }
        }
        if let Some(phone) = phone {
            let key = keys::phone(phone);
            match claim(store, &key, id, now, has_phone(phone)).await? {
                Claim::Won { raw, .. } => claimed.push((key, raw)),
                Claim::Held(_) => return Err(UsersError::PhoneTaken),
                Claim::Pending => return Ok(Step::Retry),
            }
        }
        let user = User {
            id: id.clone(),
            openids: [(app_id.to_string(), openid.clone())].into_iter().collect(),
            unionid: unionid.cloned(),
            phone: phone.cloned(),
            created_at: now,
            last_login_at: None,
            disabled: false,
            disabled_reason: None,
            methods: Vec::new(),
        };
        if store
            .put_if_absent(&keys::user(id), &index::encode(&user)?, None)
            .await?
        {
            admin::list(store, &user).await?;
            Ok(Step::Done(user))
        } else {
            // An 80-bit id collision: start over with another id.
            Ok(Step::Retry)
        }
    }

    /// Applies `change` to the record `id` with compare-and-swap, so concurrent changes to
    /// one user (a login and a phone binding) never undo each other.
    async fn update(
        &self,
        id: &UserId,
        mut change: impl FnMut(&mut User) -> Result<(), UsersError>,
    ) -> Result<User, UsersError> {
        let key = keys::user(id);
        for _ in 0..UPDATE_ROUNDS {
            let raw = self.store.get(&key).await?.ok_or(UsersError::NotFound)?;
            let current = index::decode(&raw)?;
            let mut next = current.clone();
            change(&mut next)?;
            if next == current {
                return Ok(current);
            }
            if self
                .store
                .compare_and_swap(&key, &raw, &index::encode(&next)?, None)
                .await?
            {
                return Ok(next);
            }
        }
        Err(UsersError::Busy)
    }
}

fn has_openid<'a>(app_id: &'a str, openid: &'a OpenId) -> impl Fn(&User) -> bool + 'a {
    move |u| u.openid(app_id) == Some(openid)
}

fn has_unionid(unionid: &UnionId) -> impl Fn(&User) -> bool + '_ {
    move |u| u.unionid.as_ref() == Some(unionid)
}

fn has_phone(phone: &Phone) -> impl Fn(&User) -> bool + '_ {
    move |u| u.phone.as_ref() == Some(phone)
}
