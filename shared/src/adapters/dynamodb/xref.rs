//! `XrefStore` on DynamoDB: both directions of a Salesforce ↔ WMS link, written as two ordered
//! conditional updates rather than one transaction.
//!
//! Why not a transaction: it costs twice the write units of two plain writes, and the order of the two
//! writes already gives every reader what it needs. The WMS side (`xref#<system>#<id>` → Salesforce id)
//! goes first, the Salesforce side (`xref#sf#<id>` → WMS order) second:
//! - the orders consumer asks the Salesforce side "is this record in the WMS yet?". Until the second
//!   write lands the answer is no, so it looks the order up by code in the WMS and links again, which
//!   finds the WMS side already agreeing and completes the pair;
//! - shipment-writeback asks the WMS side; once it exists the order really is in the WMS and linked.
//!
//! A conflict on the Salesforce side (the record is linked to another WMS order) after the WMS side was
//! created by this call removes that WMS side again (conditionally, only if it is still ours), so a
//! conflict writes nothing, as a transaction would have.
//!
//! A link never changes once both sides agree, so each process keeps the links it has seen and answers
//! them from memory (the writeback resolves every event of an order through the same link). "Not
//! linked" is never cached: it changes the moment the consumer links.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use tracing::{debug, instrument, warn};

use super::item::{opt_s, req_s, s};
use super::rules;
use super::{boxed, keys, now_rfc3339, DynamoState};
use crate::domain::{SalesforceId, WmsOrderId};
use crate::ports::{StoreError, WmsRef, WmsSystem, XrefStore};

/// Links kept in memory at most (then the cache starts over): a warm environment sees a few thousand
/// orders, and each entry is a few dozen bytes.
const CACHED_LINKS: usize = 50_000;

/// One side of a link as the cache keeps it.
#[derive(Debug, Clone)]
pub(super) enum Cached {
    /// `xref#sf#<id>` / `<system>`.
    Wms(WmsRef),
    /// `xref#<system>#<id>` / `sf`.
    Salesforce(SalesforceId),
}

const WMS_ID: &str = "wms_id";
const SF_ID: &str = "sf_id";
const WMS_CODE: &str = "wms_code";

/// How one conditional side-write ended.
enum Side {
    /// Written; `true` when the item did not exist before.
    Written(bool),
    /// The condition failed: the item links to this counterpart (when it says).
    Taken(Option<String>),
}

impl DynamoState {
    fn cached(&self, key: &str) -> Option<Cached> {
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn remember(&self, key: String, link: Cached) {
        let mut links = self.links.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if links.len() >= CACHED_LINKS {
            links.clear();
        }
        links.insert(key, link);
    }

    fn forget(&self, key: &str) {
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    /// `SET <attr> = :v` unless the item links to something else already.
    async fn link_side(
        &self,
        pk: String,
        sk: &str,
        attr: &'static str,
        value: &str,
        code: &str,
        now: &str,
    ) -> Result<Side, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            // `created_at` keeps its first value, so relinking the same pair changes nothing that matters.
            .update_expression("SET #a = :v, wms_code = :code, created_at = if_not_exists(created_at, :now)")
            .condition_expression("attribute_not_exists(pk) OR #a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", s(value))
            .expression_attribute_values(":code", s(code))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::UpdatedOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Side::Written(
                out.attributes.as_ref().is_none_or(|a| !a.contains_key("created_at")),
            )),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Side::Taken(counterpart(failed.item(), attr)))
                }
                _ => Err(StoreError::Unavailable(boxed(e))),
            },
        }
    }
}

#[async_trait]
impl XrefStore for DynamoState {
    #[instrument(skip_all, fields(sf_id = %salesforce, wms = wms.system.as_str(), wms_id = %wms.id))]
    async fn link(&self, salesforce: &SalesforceId, wms: &WmsRef) -> Result<(), StoreError> {
        let now = now_rfc3339();
        let wms_pk = keys::xref_wms(wms.system, &wms.id);
        let sf_key = format!("{}/{}", keys::xref_salesforce(salesforce), wms.system.as_str());
        if matches!(self.cached(&sf_key), Some(Cached::Wms(known)) if known.id == wms.id) {
            // Linked before, in this process: both sides exist and agree.
            return Ok(());
        }
        // 1. The WMS side: the order belongs to this record (or already did).
        let created = match self
            .link_side(
                wms_pk.clone(),
                keys::XREF_SF_SK,
                SF_ID,
                salesforce.as_str(),
                &wms.code,
                &now,
            )
            .await?
        {
            Side::Written(created) => created,
            Side::Taken(seen) => {
                let existing = match seen {
                    Some(v) => Some(v),
                    None => self
                        .salesforce_for(wms.system, &wms.id)
                        .await?
                        .map(|id| id.as_str().to_owned()),
                };
                if let Some(existing) = existing.filter(|e| !rules::link_allowed(Some(e), salesforce.as_str())) {
                    warn!(existing_sf_id = %existing, "wms order already linked to another salesforce record");
                    return Err(rules::wms_conflict(wms.system, &wms.id, &existing));
                }
                // The condition failed but the item agrees on re-read: a concurrent writer; retry.
                return Err(StoreError::Unavailable(
                    "wms side of the link changed concurrently".into(),
                ));
            }
        };
        // 2. The Salesforce side: the record is in this WMS as this order.
        match self
            .link_side(
                keys::xref_salesforce(salesforce),
                wms.system.as_str(),
                WMS_ID,
                wms.id.as_str(),
                &wms.code,
                &now,
            )
            .await?
        {
            Side::Written(_) => {
                debug!("cross-reference linked");
                self.remember(sf_key, Cached::Wms(wms.clone()));
                self.remember(
                    format!("{wms_pk}/{}", keys::XREF_SF_SK),
                    Cached::Salesforce(salesforce.clone()),
                );
                Ok(())
            }
            Side::Taken(seen) => {
                let existing = match seen {
                    Some(v) => Some(v),
                    None => self
                        .wms_for(salesforce, wms.system)
                        .await?
                        .map(|r| r.id.as_str().to_owned()),
                };
                let Some(existing) = existing.filter(|e| !rules::link_allowed(Some(e), wms.id.as_str())) else {
                    return Err(StoreError::Unavailable(
                        "salesforce side of the link changed concurrently".into(),
                    ));
                };
                warn!(existing_wms_id = %existing, "salesforce record already linked to another order");
                if created {
                    self.unlink_created(&wms_pk, salesforce, &now).await;
                }
                Err(rules::salesforce_conflict(salesforce, wms.system, &existing))
            }
        }
    }

    #[instrument(skip_all, fields(sf_id = %salesforce, wms = system.as_str()))]
    async fn wms_for(&self, salesforce: &SalesforceId, system: WmsSystem) -> Result<Option<WmsRef>, StoreError> {
        let pk = keys::xref_salesforce(salesforce);
        let key = format!("{pk}/{}", system.as_str());
        if let Some(Cached::Wms(known)) = self.cached(&key) {
            return Ok(Some(known));
        }
        let Some(item) = self.read_item(&pk, system.as_str()).await? else {
            return Ok(None);
        };
        let malformed = |reason: String| StoreError::Malformed {
            key: format!("{pk}/{}", system.as_str()),
            reason,
        };
        let id = req_s(&item, WMS_ID).map_err(|e| malformed(e.to_string()))?;
        let id = WmsOrderId::parse(id).map_err(|e| malformed(e.to_string()))?;
        let code = opt_s(&item, WMS_CODE)
            .map_err(|e| malformed(e.to_string()))?
            .unwrap_or_default()
            .to_owned();
        let found = WmsRef { system, id, code };
        self.remember(key, Cached::Wms(found.clone()));
        Ok(Some(found))
    }

    #[instrument(skip_all, fields(wms = system.as_str(), wms_id = %wms_id))]
    async fn salesforce_for(&self, system: WmsSystem, wms_id: &WmsOrderId) -> Result<Option<SalesforceId>, StoreError> {
        let pk = keys::xref_wms(system, wms_id);
        let key = format!("{pk}/{}", keys::XREF_SF_SK);
        if let Some(Cached::Salesforce(known)) = self.cached(&key) {
            return Ok(Some(known));
        }
        let Some(item) = self.read_item(&pk, keys::XREF_SF_SK).await? else {
            return Ok(None);
        };
        let malformed = |reason: String| StoreError::Malformed {
            key: format!("{pk}/{}", keys::XREF_SF_SK),
            reason,
        };
        let id = req_s(&item, SF_ID).map_err(|e| malformed(e.to_string()))?;
        let id = SalesforceId::parse(id).map_err(|e| malformed(e.to_string()))?;
        self.remember(key, Cached::Salesforce(id.clone()));
        Ok(Some(id))
    }
}

impl DynamoState {
    /// Takes back a WMS side this call created, only while it is still exactly ours. If this fails the
    /// conflict is still reported (and logged), and the WMS side names a record that does not name it
    /// back, which the conflict's operator sees.
    async fn unlink_created(&self, wms_pk: &str, salesforce: &SalesforceId, now: &str) {
        self.forget(&format!("{wms_pk}/{}", keys::XREF_SF_SK));
        let undone = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(wms_pk))
            .key("sk", s(keys::XREF_SF_SK))
            .condition_expression("sf_id = :sf AND created_at = :now")
            .expression_attribute_values(":sf", s(salesforce.as_str()))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        if let Err(e) = undone {
            warn!(error.message = %crate::error::chain(&e), "could not take back the wms side of a conflicting link");
        }
    }
}

/// The counterpart recorded in the item that made the condition fail (returned thanks to ALL_OLD).
fn counterpart(item: Option<&HashMap<String, AttributeValue>>, attr: &'static str) -> Option<String> {
    opt_s(item?, attr).ok().flatten().map(str::to_owned)
}
