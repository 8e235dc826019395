//! Watermarks on DynamoDB (moto): epoch milliseconds, forward-only conditional updates.

use time::macros::datetime;
use time::Duration;
use waybill::ports::{Advance, WatermarkStore};

use crate::support::{self, n};

#[tokio::test]
async fn a_watermark_only_moves_forward() {
    // Given a stream with no watermark
    let store = support::state().await;
    let stream = "inventory#logiwa#WH1";
    assert_eq!(store.get(stream).await.expect("get"), None);
    let t = datetime!(2026-11-23 10:00:00.123 UTC);

    // When it is set, Then it moves
    assert_eq!(store.advance(stream, t).await.expect("advance"), Advance::Moved);
    // When the same or an earlier value arrives (an overlapping poll), Then it stays, reporting where it is
    assert_eq!(
        store.advance(stream, t).await.expect("advance"),
        Advance::NotForward { current: t }
    );
    let earlier = t - Duration::minutes(5);
    assert_eq!(
        store.advance(stream, earlier).await.expect("advance"),
        Advance::NotForward { current: t }
    );
    // When a later value arrives, Then it moves again
    let later = t + Duration::milliseconds(1);
    assert_eq!(store.advance(stream, later).await.expect("advance"), Advance::Moved);
    assert_eq!(store.get(stream).await.expect("get"), Some(later));

    // And it is stored as epoch milliseconds
    let item = support::raw_item(&store, &format!("wm#{stream}"), "wm")
        .await
        .expect("item");
    assert_eq!(n(&item, "watermark"), later.unix_timestamp() * 1000 + 124);
    assert!(item.contains_key("updated_at"));
}

#[tokio::test]
async fn watermarks_of_different_streams_are_independent() {
    // Given one stream far ahead
    let store = support::state().await;
    let t = datetime!(2026-11-23 10:00 UTC);
    store.advance("a", t).await.expect("advance");
    // When another stream starts earlier
    let moved = store.advance("b", t - Duration::days(1)).await.expect("advance");
    // Then it moves on its own
    assert_eq!(moved, Advance::Moved);
    assert_eq!(store.get("a").await.expect("get"), Some(t));
}
