//! The memory store's tests.

use super::*;
use crate::store::{Activity, Change};

fn record(id: &str, state: &str, group: Option<&str>) -> InstanceRecord {
    let mut r = InstanceRecord::new(id);
    r.status = Some(state.into());
    r.group = group.map(str::to_string);
    r.active_group = group.map(str::to_string);
    r
}

#[tokio::test]
async fn the_log_keeps_each_write_as_written_though_the_record_changes_in_place_after() {
    let store = MemoryStore::new();
    store.put(record("i-1", "finished_cloud_init", Some("web")));
    let read = store.get("i-1").await.unwrap().unwrap();
    let mut commit = Commit::expecting(&read, chrono::Utc::now());
    commit.status = Some("ready".into());
    let written = store.commit(&commit).await.unwrap();
    assert_eq!((written.state(), written.version), ("ready", 1));
    let log = store.changes_after(0, 10).unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|c| {
            (
                c.sequence,
                c.ident(),
                c.new.state(),
                c.created,
                c.new.version,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "i-1", "finished_cloud_init", true, 0),
            (2, "i-1", "ready", false, 1),
        ]
    );
    assert_eq!(*log[1].new, written);
    assert_eq!(store.all(), [written]);
    assert_eq!(log[0].old_membership(), None);
    assert_eq!(log[1].left, None, "the membership did not change");
    assert_eq!(
        log[1].old_membership().unwrap().active_group.as_deref(),
        Some("web")
    );
}

#[tokio::test]
async fn a_write_that_takes_a_record_out_of_its_group_keeps_the_membership_before_it() {
    let store = MemoryStore::with_change_log_capacity(8);
    store.put(record("i-1", "ready", Some("web")));
    let read = store.get("i-1").await.unwrap().unwrap();
    let mut commit = Commit::expecting(&read, chrono::Utc::now());
    commit.activity = Activity::Inactive { expires_at: 1 };
    store.commit(&commit).await.unwrap();
    let last = store.changes_after(1, 10).unwrap().pop().unwrap();
    assert_eq!(last.new.active_group, None);
    assert_eq!(
        last.left,
        Some(Membership {
            group: Some("web".into()),
            active_group: Some("web".into()),
        })
    );
}

#[tokio::test]
async fn a_write_given_to_keep_writes_what_a_borrowed_one_writes() {
    use crate::record::{HISTORY_LIMIT, HistoryEntry, RECENT_EVENTS_LIMIT};
    let now = chrono::Utc::now();
    let entry = |to: &str, version| HistoryEntry {
        from: "a".into(),
        to: to.into(),
        trigger: format!("a__to__{to}").into(),
        event_id: "e-1".into(),
        version,
        at: now,
    };
    let mut full = record("i-1", "a", Some("web"));
    full.history = Arc::new((0..HISTORY_LIMIT as u64).map(|v| entry("a", v)).collect());
    full.recent_events = Arc::new(
        (0..RECENT_EVENTS_LIMIT)
            .map(|k| format!("old-{k}"))
            .collect(),
    );
    // A new state, the same state, none; a new event id, one already there, none; entries
    // beyond the lists' limits.
    let cases = [
        (Some("b"), vec![entry("b", 1), entry("c", 1)], Some("e-1")),
        (Some("a"), vec![entry("a", 1)], Some("old-3")),
        (None, vec![], None),
        (Some("c"), vec![], Some("e-2")),
        (
            Some("d"),
            (0..HISTORY_LIMIT as u64 + 2)
                .map(|v| entry("d", v))
                .collect(),
            Some("e-3"),
        ),
    ];
    for base in [record("i-1", "a", Some("web")), full] {
        for (status, history, processed) in cases.clone() {
            let (borrowed, owned, unanswered) =
                (MemoryStore::new(), MemoryStore::new(), MemoryStore::new());
            borrowed.put(base.clone());
            owned.put(base.clone());
            unanswered.put(base.clone());
            let mut commit = Commit::expecting(&base, now + chrono::Duration::seconds(5));
            commit.status = status.map(str::to_string);
            commit.history = history;
            commit.mark_processed = processed.map(str::to_string);
            commit.last_error = Change::Set("noted".into());
            let written = borrowed.commit(&commit).await.unwrap();
            let mut unanswered_commit = commit.clone();
            assert_eq!(owned.commit_taking(&mut commit).await.unwrap(), written);
            assert_eq!(owned.all(), borrowed.all());
            unanswered
                .commit_without_answer(&mut unanswered_commit)
                .await
                .unwrap();
            assert_eq!(unanswered.all(), borrowed.all());
            assert_eq!(
                unanswered.changes_after(0, 10),
                borrowed.changes_after(0, 10)
            );
        }
    }
}

#[tokio::test]
async fn a_failed_condition_changes_and_logs_nothing() {
    let store = MemoryStore::new();
    store.put(record("i-1", "ready", None));
    let mut stale = Commit::expecting(&record("i-1", "new", None), chrono::Utc::now());
    stale.status = Some("join_cluster".into());
    assert!(matches!(
        store.commit(&stale).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut taken = stale.clone();
    taken.mark_processed = Some("e-1".into());
    let before = taken.clone();
    assert!(matches!(
        store.commit_taking(&mut taken).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        taken, before,
        "a refused write keeps what it would have moved"
    );
    assert!(matches!(
        store.commit_without_answer(&mut taken).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(taken, before);
    assert_eq!(store.last_sequence(), 1);
    assert_eq!(store.all()[0].state(), "ready");
}

#[tokio::test]
async fn changes_after_a_sequence_start_right_after_it_and_a_dropped_one_is_gone() {
    let store = MemoryStore::with_change_log_capacity(3);
    for state in ["a", "b", "c", "d", "e"] {
        store.put(record("i-1", state, None));
    }
    let states = |after| {
        store.changes_after(after, 10).map(|l| {
            l.iter()
                .map(|c| c.new.state().to_string())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(states(2).unwrap(), ["c", "d", "e"]);
    assert_eq!(states(4).unwrap(), ["e"]);
    assert_eq!(states(5).unwrap(), Vec::<String>::new());
    assert_eq!(states(1), None, "write 2 was dropped");
    assert_eq!(states(6), None, "never written");
}
