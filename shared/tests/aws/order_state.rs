//! `OrderStateStore` on moto: one item per order, versioned conditional writes that lose no update when
//! writers race, and the lifecycle's refusals recorded on the item.

use time::OffsetDateTime;
use waybill::lifecycle::{Stage, Verdict};
use waybill::order_state::Tracker;
use waybill::ports::{OrderState, OrderStateStore, Saved, WmsRef, WmsSystem};

use crate::support;

fn t(s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_760_000_000 + s).expect("time")
}

#[tokio::test]
async fn a_save_at_a_stale_version_is_a_conflict_and_changes_nothing() {
    let state = support::state().await;
    let mut first = OrderState::new("salesforce", "0a3000000000001AAA", t(0));
    first.version = 1;
    assert_eq!(state.save(&first).await.expect("save"), Saved::Written);
    // A second writer that also read "absent" loses
    assert_eq!(state.save(&first).await.expect("save"), Saved::Conflict);
    let mut next = first.clone();
    next.version = 2;
    next.ignored_count = 7;
    assert_eq!(state.save(&next).await.expect("save"), Saved::Written);
    let mut stale = first.clone();
    stale.version = 2;
    assert_eq!(state.save(&stale).await.expect("save"), Saved::Conflict);
    let stored = state
        .load("salesforce", "0a3000000000001AAA")
        .await
        .expect("load")
        .expect("item");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.ignored_count, 7);
}

#[tokio::test]
async fn the_item_is_stored_under_the_documented_key_with_readable_attributes() {
    let state = support::state().await;
    let tracker = Tracker::new(&state, "salesforce");
    tracker
        .observe("0a3000000000002AAA", Stage::Shipped, t(5), "logiwa")
        .await
        .expect("observe");
    let item = support::raw_item(&state, "order#salesforce#0a3000000000002AAA", "state")
        .await
        .expect("item");
    assert_eq!(support::n(&item, "version"), 1);
    let stage = item.get("stage").and_then(|v| v.as_m().ok()).expect("stage is a map");
    assert_eq!(
        stage.get("stage").and_then(|v| v.as_s().ok()).map(String::as_str),
        Some("shipped")
    );
    assert_eq!(
        stage.get("source").and_then(|v| v.as_s().ok()).map(String::as_str),
        Some("logiwa")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_lose_no_update_and_the_stage_only_moves_forward() {
    // Given twelve writers on one order at once: links, errors, and stage reports in random order
    let state = support::state().await;
    let tracker = Tracker::new(&state, "salesforce");
    let id = "0a3000000000003AAA";
    let stages = [
        Stage::Submitted,
        Stage::Accepted,
        Stage::Picked,
        Stage::Shipped,
        Stage::PartiallyShipped,
        Stage::Accepted,
        Stage::Packed,
        Stage::Submitted,
    ];
    let observes = stages
        .iter()
        .enumerate()
        .map(|(i, st)| tracker.observe(id, *st, t(i64::try_from(i).expect("i")), "logiwa"));
    let wms = WmsRef {
        system: WmsSystem::named("logiwa"),
        id: waybill::domain::WmsOrderId::parse("7c0e0000-0000-4000-8000-00000000abcd").expect("id"),
        code: "FO-RACE".into(),
    };
    let (verdicts, link) = tokio::join!(futures::future::join_all(observes), tracker.link(id, &wms));
    link.expect("link");
    let verdicts: Vec<Verdict> = verdicts.into_iter().map(|v| v.expect("observe")).collect();
    // Then the final stage is the highest reported, the link survived, and every refusal was counted
    let stored = tracker.get(id).await.expect("load").expect("item");
    assert_eq!(stored.stage.as_ref().map(|e| e.stage), Some(Stage::Shipped));
    assert_eq!(stored.wms.as_ref(), Some(&wms));
    let ranks: Vec<u8> = stored.history.iter().map(|e| e.stage.rank()).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "history went backwards: {:?}",
        stored.history
    );
    let refused = verdicts
        .iter()
        .filter(|v| !matches!(v, Verdict::Advance | Verdict::Same))
        .count();
    assert_eq!(stored.ignored_count, u64::try_from(refused).expect("n"));
    let applied = verdicts.iter().filter(|v| v.applies()).count();
    assert_eq!(stored.history.len(), applied);
}
