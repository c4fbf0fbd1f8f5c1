//! Who "returning user" is in the demo: the person who logged in through this demo last, so
//! that signing up as new, logging out and scanning as returning is the same person again.
//! Before anyone has, it is the seeded person.
//!
//! The simulated phone remembers the last few people it played as "new"; which of them (or
//! the seeded one) logged in last is the user directory's `last_login_at`, which a login
//! sets when it is confirmed (a scan left at the phone step registers nobody).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use crate::identity::UnionId;
use crate::users::UserDirectory;
use crate::wechat_sim::SimUser;

/// People remembered at most: enough for a demo's few tabs, never a growing list.
const REMEMBERED: usize = 8;

/// The people the simulated phone played as "new" lately, oldest first.
#[derive(Default)]
pub(super) struct RecentUsers(Mutex<VecDeque<SimUser>>);

impl RecentUsers {
    pub(super) fn remember(&self, user: &SimUser) {
        let mut recent = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() >= REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(user.clone());
    }

    /// Of `seeded` and the remembered people, the one whose login is the latest, as a
    /// returning user (following the account). `seeded` when no one has logged in yet.
    /// Directory errors count as "not logged in": the demo then falls back, it never fails.
    pub(super) async fn last_logged_in(&self, users: &UserDirectory, seeded: SimUser) -> SimUser {
        let mut candidates = vec![seeded.clone()];
        candidates.extend(
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        let mut best: Option<(u64, SimUser)> = None;
        for candidate in candidates {
            // Every simulated person has a unionid, shared by the Official Account and the
            // Mini Program: it finds them whichever way they signed up.
            let Some(unionid) = candidate.unionid.clone().map(UnionId::new) else {
                continue;
            };
            let Ok(Some(user)) = users.find_by_unionid(&unionid).await else {
                continue;
            };
            let Some(at) = user.last_login_at else {
                continue;
            };
            // `>=`: within one second, the later remembered (the newer person) wins.
            if best.as_ref().is_none_or(|(latest, _)| at >= *latest) {
                best = Some((at, candidate));
            }
        }
        let mut chosen = best.map_or(seeded, |(_, user)| user);
        chosen.follows = true;
        chosen
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::identity::{LoginMethod, OpenId};
    use crate::store::SqliteStore;

    fn person(n: u32) -> SimUser {
        SimUser {
            openid: format!("o_sim_{n}"),
            unionid: Some(format!("un_sim_{n}")),
            follows: false,
        }
    }

    async fn register(users: &UserDirectory, who: &SimUser, login_at: Option<u64>) {
        let unionid = who.unionid.clone().map(UnionId::new);
        let user = users
            .register(
                "wx_app",
                &OpenId::new(&who.openid),
                unionid.as_ref(),
                None,
                100,
            )
            .await
            .unwrap();
        if let Some(at) = login_at {
            users
                .record_login(&user.id, LoginMethod::OfficialAccount, at)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn the_last_to_log_in_returns_else_the_seeded_person() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let users = UserDirectory::new(Arc::new(store));
        let recent = RecentUsers::default();
        let seeded = person(0);
        register(&users, &seeded, None).await;

        // Nobody has logged in: the seeded person, as a follower.
        let chosen = recent.last_logged_in(&users, seeded.clone()).await;
        assert_eq!(chosen.openid, "o_sim_0");
        assert!(chosen.follows);

        // One signed up and logged in; a second scanned but never finished.
        recent.remember(&person(1));
        register(&users, &person(1), Some(200)).await;
        recent.remember(&person(2));
        assert_eq!(
            recent.last_logged_in(&users, seeded.clone()).await.openid,
            "o_sim_1"
        );

        // The seeded person logs in later: they are the returning one again.
        let seeded_id = users
            .find_by_unionid(&UnionId::new("un_sim_0"))
            .await
            .unwrap()
            .unwrap()
            .id;
        users
            .record_login(&seeded_id, LoginMethod::OfficialAccount, 300)
            .await
            .unwrap();
        assert_eq!(
            recent.last_logged_in(&users, seeded.clone()).await.openid,
            "o_sim_0"
        );
    }

    #[test]
    fn only_a_few_people_are_remembered() {
        let recent = RecentUsers::default();
        for n in 0..100 {
            recent.remember(&person(n));
        }
        let kept = recent.0.lock().unwrap();
        assert_eq!(kept.len(), REMEMBERED);
        assert_eq!(kept.back().unwrap().openid, "o_sim_99");
    }
}
