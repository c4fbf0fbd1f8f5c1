//! The operator's directory operations over both real backends: the embedded store in a temp
//! dir and a `redis-server` started for the test (skipped when there is none).

use std::sync::Arc;

use super::*;
use crate::identity::{LoginMethod, OpenId, UnionId};
use crate::session::user_marks::Mark;
use crate::session::{user_persist, UserMarks};
use crate::store::redis_server::RedisServer;
use crate::store::{RedisStore, SqliteStore};
use crate::users::ops::{Operator, Query};

const OA: &str = "wx_oa";
const MP: &str = "wx_mp";

fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}

async fn each_backend<F, Fut>(case: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    case(sqlite).await;
    if let Some(server) = RedisServer::start().unwrap() {
        let redis: Arc<dyn Store> = Arc::new(RedisStore::open(&server.url(), "t:").await.unwrap());
        case(redis).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_is_newest_first_with_exact_pages() {
    each_backend(|store| async move {
        let users = UserDirectory::new(store.clone());
        let mut ids = Vec::new();
        // Several in one second: ties are broken by id, still exact.
        for i in 0..7u64 {
            let u = users
                .register(OA, &OpenId::new(format!("o{i}")), None, None, 1_000 + i / 3)
                .await
                .unwrap();
            ids.push(u.id);
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = users.list_page(3, after.as_ref()).await.unwrap();
            assert!(page.users.len() <= 3);
            seen.extend(page.users.iter().map(|u| (u.created_at, u.id.clone())));
            match page.next {
                // The cursor travels as text.
                Some(next) => after = Some(Cursor::parse(&next.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7, "{seen:?}");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first");
        assert_eq!(counts(store.as_ref()).await.unwrap(), (7, 0));
        assert!(Cursor::parse("not a cursor").is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("x:u_1")).is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_from_before_the_list_joins_it_at_the_next_login() {
    each_backend(|store| async move {
        let users = UserDirectory::new(store.clone());
        let u = users
            .register(OA, &OpenId::new("old"), None, None, 5)
            .await
            .unwrap();
        // As an older version left it: a record, no list entry.
        store.set_remove(LISTED, &member(&u)).await.unwrap();
        assert!(users.list_page(10, None).await.unwrap().users.is_empty());
        let after = users
            .record_login(&u.id, LoginMethod::MiniProgram, 9)
            .await
            .unwrap();
        assert_eq!(after.methods, [LoginMethod::MiniProgram]);
        let listed = users.list_page(10, None).await.unwrap().users;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, u.id);
        let again = users
            .record_login(&u.id, LoginMethod::OfficialAccount, 10)
            .await
            .unwrap();
        assert_eq!(
            again.methods,
            [LoginMethod::MiniProgram, LoginMethod::OfficialAccount]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_keeps_a_reason_and_feeds_the_blocked_set() {
    each_backend(|store| async move {
        let users = UserDirectory::new(store.clone());
        let u = users
            .register(OA, &OpenId::new("o"), None, None, 1)
            .await
            .unwrap();
        let blocked = users.set_blocked(&u.id, true, Some("left")).await.unwrap();
        assert!(blocked.disabled);
        assert_eq!(blocked.disabled_reason.as_deref(), Some("left"));
        assert_eq!(
            blocked_ids(store.as_ref()).await.unwrap(),
            std::slice::from_ref(&u.id)
        );
        assert_eq!(counts(store.as_ref()).await.unwrap(), (1, 1));
        let unblocked = users.set_blocked(&u.id, false, None).await.unwrap();
        assert!(!unblocked.disabled && unblocked.disabled_reason.is_none());
        assert!(blocked_ids(store.as_ref()).await.unwrap().is_empty());
        let err = users
            .set_blocked(&UserId::new("u_nobody"), true, None)
            .await
            .unwrap_err();
        assert!(matches!(err, UsersError::NotFound), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_are_unbound_and_changed_without_taking_anothers() {
    each_backend(|store| async move {
        let users = UserDirectory::new(store.clone());
        let (p1, p2, p3) = (
            phone("13800138001"),
            phone("13800138002"),
            phone("13800138003"),
        );
        let a = users
            .register(OA, &OpenId::new("a"), None, Some(&p1), 1)
            .await
            .unwrap();
        let b = users
            .register(OA, &OpenId::new("b"), None, Some(&p2), 1)
            .await
            .unwrap();

        let err = users.set_phone(&a.id, &p2, 2).await.unwrap_err();
        assert!(matches!(err, UsersError::PhoneTaken), "{err}");
        assert_eq!(
            users.get(&a.id).await.unwrap().unwrap().phone,
            Some(p1.clone())
        );

        let changed = users.set_phone(&a.id, &p3, 2).await.unwrap();
        assert_eq!(changed.phone, Some(p3.clone()));
        assert_eq!(users.find_by_phone(&p3).await.unwrap().unwrap().id, a.id);
        assert_eq!(users.find_by_phone(&p1).await.unwrap(), None);
        assert_eq!(
            store.get(&keys::phone(&p1)).await.unwrap(),
            None,
            "old entry gone"
        );

        let unbound = users.unbind_phone(&b.id).await.unwrap();
        assert_eq!(unbound.phone, None);
        assert_eq!(store.get(&keys::phone(&p2)).await.unwrap(), None);
        // The freed number can be given to someone else, at once.
        let moved = users.set_phone(&a.id, &p2, 3).await.unwrap();
        assert_eq!(moved.phone, Some(p2.clone()));
        // Unbinding nothing, and a user without a phone getting one.
        assert_eq!(users.unbind_phone(&b.id).await.unwrap().phone, None);
        assert_eq!(
            users.set_phone(&b.id, &p1, 4).await.unwrap().phone,
            Some(p1.clone())
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_nothing_findable_and_a_new_login_is_a_new_user() {
    each_backend(|store| async move {
        let users = UserDirectory::new(store.clone());
        let p = phone("13900139000");
        let union = UnionId::new("un-erase");
        let u = users
            .register(OA, &OpenId::new("o-oa"), Some(&union), Some(&p), 1)
            .await
            .unwrap();
        users
            .register(MP, &OpenId::new("o-mp"), Some(&union), None, 2)
            .await
            .unwrap();
        users.set_blocked(&u.id, true, None).await.unwrap();
        let other = users
            .register(OA, &OpenId::new("keep"), None, None, 3)
            .await
            .unwrap();

        let gone = users.erase(&u.id).await.unwrap();
        assert_eq!(gone.openids.len(), 2);
        assert_eq!(users.get(&u.id).await.unwrap(), None);
        for key in [
            keys::user(&u.id),
            keys::phone(&p),
            keys::unionid(&union),
            keys::openid(OA, &OpenId::new("o-oa")),
            keys::openid(MP, &OpenId::new("o-mp")),
        ] {
            assert_eq!(store.get(&key).await.unwrap(), None, "{key} erased");
        }
        let listed = users.list_page(10, None).await.unwrap().users;
        assert_eq!(
            listed.iter().map(|x| &x.id).collect::<Vec<_>>(),
            [&other.id]
        );
        assert!(blocked_ids(store.as_ref()).await.unwrap().is_empty());
        assert!(matches!(
            users.erase(&u.id).await.unwrap_err(),
            UsersError::NotFound
        ));

        let again = users
            .register(OA, &OpenId::new("o-oa"), Some(&union), Some(&p), 9)
            .await
            .unwrap();
        assert_ne!(again.id, u.id, "a new user");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_actions_reach_session_marks() {
    each_backend(|store| async move {
        let op = Operator::new(
            store.clone(),
            crate::audit::Actor::Cli,
            vec![OA.into(), MP.into()],
            3600,
        );
        let users = UserDirectory::new(store.clone());
        let u = users
            .register(MP, &OpenId::new("o-find"), None, None, 1)
            .await
            .unwrap();
        let found = op
            .find(&Query::OpenId(OpenId::new("o-find")))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert!(op
            .find(&Query::Id(UserId::new("u_x")))
            .await
            .unwrap()
            .is_empty());

        let mut rx = store.subscribe();
        op.revoke(&u.id, 100).await.unwrap();
        let marks = UserMarks::new();
        user_persist::load_revocations(store.as_ref(), &marks, 100)
            .await
            .unwrap();
        assert_eq!(marks.check(&u.id, 100, 101), Some(Mark::Revoked));
        assert_eq!(marks.check(&u.id, 101, 102), None);

        op.block(&u.id, Some("why")).await.unwrap();
        let mut seen = UserMarks::new();
        let mut blocked_seen = false;
        for _ in 0..2 {
            let note = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if note.channel == user_persist::CHANNEL {
                assert!(user_persist::apply(&seen, &note.payload));
                blocked_seen = seen.is_blocked(&u.id);
            }
        }
        assert!(blocked_seen);
        seen = UserMarks::new();
        seen.replace_blocked(blocked_ids(store.as_ref()).await.unwrap());
        assert!(seen.is_blocked(&u.id));

        let report = crate::users::ops::UserReport::from(&op.show(&u.id).await.unwrap());
        assert!(report.blocked);
        assert_eq!(report.blocked_reason.as_deref(), Some("why"));

        let mut export = op.export();
        let mut all = Vec::new();
        while let Some(page) = export.next_page().await.unwrap() {
            all.extend(page);
        }
        assert_eq!(export.finish(), 1);
        assert_eq!(all, [report]);

        op.delete(&u.id, 200).await.unwrap();
        assert!(matches!(
            op.show(&u.id).await.unwrap_err(),
            UsersError::NotFound
        ));
        let fresh = UserMarks::new();
        user_persist::load_revocations(store.as_ref(), &fresh, 200)
            .await
            .unwrap();
        fresh.replace_blocked(blocked_ids(store.as_ref()).await.unwrap());
        assert_eq!(
            fresh.check(&u.id, 150, 201),
            Some(Mark::Revoked),
            "deleted = revoked"
        );
    })
    .await;
}
