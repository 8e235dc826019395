//! Order leases on DynamoDB (moto): waiters that poll with reads still take a lease one at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use waybill::lease::{Leases, Taken};

use crate::support;

#[tokio::test]
async fn parallel_waiters_on_one_held_lease_each_get_it_in_turn_and_never_two_at_once() {
    // Given a lease held by one invocation
    let store = Arc::new(support::state().await);
    let first = Leases::new(store.as_ref())
        .try_acquire("order#P-1", 0)
        .await
        .expect("store")
        .expect("free");
    let holding = Arc::new(AtomicUsize::new(1));
    let most = Arc::new(AtomicUsize::new(1));
    // When five others wait for it in parallel, each holding it briefly once it has it
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (store, holding, most) = (store.clone(), holding.clone(), most.clone());
            tokio::spawn(async move {
                let leases = Leases::new(store.as_ref());
                match leases
                    .acquire_unless("order#P-1", 0, Duration::from_secs(15), || std::future::ready(false))
                    .await
                    .expect("store")
                {
                    Taken::Held(lease) => {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        holding.fetch_sub(1, Ordering::SeqCst);
                        leases.release(lease).await.expect("release");
                        true
                    }
                    Taken::Covered | Taken::Busy => false,
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    holding.fetch_sub(1, Ordering::SeqCst);
    Leases::new(store.as_ref()).release(first).await.expect("release");
    let mut held = 0;
    for w in waiters {
        if w.await.expect("waiter") {
            held += 1;
        }
    }
    // Then every waiter had it, and never two at once
    assert_eq!(held, 5);
    assert_eq!(most.load(Ordering::SeqCst), 1, "two holders at once");
}

#[tokio::test]
async fn a_lease_whose_take_lost_its_answer_is_held_by_its_taker_and_nobody_else() {
    // Given a table reached through a client whose every call loses its first answer
    let (client, _lose) = support::losing_dynamodb().await;
    let store = support::state_with(client).await;
    let leases = Leases::new(&store);
    // When an invocation takes a free lease
    let taken = leases.try_acquire("order#P-LOST", 0).await.expect("store");
    // Then it holds it (its own first write took it), and a second invocation does not
    assert!(taken.is_some(), "the taker lost its own lease to its retry");
    let second = Leases::new(&store).try_acquire("order#P-LOST", 0).await.expect("store");
    assert!(second.is_none(), "two holders");
}
