//! `XrefStore` on DynamoDB: both directions of a Salesforce ↔ WMS link written in one conditional transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use tracing::{debug, instrument, warn};

use super::item::{opt_s, req_s, s};
use super::rules;
use super::{boxed, keys, now_rfc3339, DynamoState};
use crate::domain::{SalesforceId, WmsOrderId};
use crate::ports::{StoreError, WmsRef, WmsSystem, XrefStore};

const WMS_ID: &str = "wms_id";
const SF_ID: &str = "sf_id";
const WMS_CODE: &str = "wms_code";

#[async_trait]
impl XrefStore for DynamoState {
    #[instrument(skip_all, fields(sf_id = %salesforce, wms = wms.system.as_str(), wms_id = %wms.id))]
    async fn link(&self, salesforce: &SalesforceId, wms: &WmsRef) -> Result<(), StoreError> {
        let now = now_rfc3339();
        // `created_at` keeps its first value, so relinking the same pair changes nothing that matters.
        let sf_side = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::xref_salesforce(salesforce)))
            .key("sk", s(wms.system.as_str()))
            .update_expression("SET wms_id = :wms_id, wms_code = :code, created_at = if_not_exists(created_at, :now)")
            .condition_expression("attribute_not_exists(pk) OR wms_id = :wms_id")
            .expression_attribute_values(":wms_id", s(wms.id.as_str()))
            .expression_attribute_values(":code", s(&wms.code))
            .expression_attribute_values(":now", s(&now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(boxed(e)))?;
        let wms_side = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::xref_wms(wms.system, &wms.id)))
            .key("sk", s(keys::XREF_SF_SK))
            .update_expression("SET sf_id = :sf_id, wms_code = :code, created_at = if_not_exists(created_at, :now)")
            .condition_expression("attribute_not_exists(pk) OR sf_id = :sf_id")
            .expression_attribute_values(":sf_id", s(salesforce.as_str()))
            .expression_attribute_values(":code", s(&wms.code))
            .expression_attribute_values(":now", s(&now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(boxed(e)))?;

        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(sf_side).build())
            .transact_items(TransactWriteItem::builder().update(wms_side).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => {
                debug!("cross-reference linked");
                return Ok(());
            }
            Err(err) => err,
        };

        // Reasons come in item order: [0] the Salesforce side, [1] the WMS side.
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() {
            let reasons = cancelled.cancellation_reasons();
            if condition_failed(reasons.first()) {
                let existing = match old_value(reasons.first(), WMS_ID) {
                    Some(v) => Some(v),
                    None => self
                        .wms_for(salesforce, wms.system)
                        .await?
                        .map(|r| r.id.as_str().to_owned()),
                };
                if let Some(existing) = existing.filter(|e| !rules::link_allowed(Some(e), wms.id.as_str())) {
                    warn!(existing_wms_id = %existing, "salesforce record already linked to another order");
                    return Err(rules::salesforce_conflict(salesforce, wms.system, &existing));
                }
            }
            if condition_failed(reasons.get(1)) {
                let existing = match old_value(reasons.get(1), SF_ID) {
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
            }
        }
        // Transaction conflicts with a concurrent writer, throttling, or a condition that no longer fails
        // on re-read: all worth a retry.
        Err(StoreError::Unavailable(boxed(err)))
    }

    #[instrument(skip_all, fields(sf_id = %salesforce, wms = system.as_str()))]
    async fn wms_for(&self, salesforce: &SalesforceId, system: WmsSystem) -> Result<Option<WmsRef>, StoreError> {
        let pk = keys::xref_salesforce(salesforce);
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
        Ok(Some(WmsRef { system, id, code }))
    }

    #[instrument(skip_all, fields(wms = system.as_str(), wms_id = %wms_id))]
    async fn salesforce_for(&self, system: WmsSystem, wms_id: &WmsOrderId) -> Result<Option<SalesforceId>, StoreError> {
        let pk = keys::xref_wms(system, wms_id);
        let Some(item) = self.read_item(&pk, keys::XREF_SF_SK).await? else {
            return Ok(None);
        };
        let malformed = |reason: String| StoreError::Malformed {
            key: format!("{pk}/{}", keys::XREF_SF_SK),
            reason,
        };
        let id = req_s(&item, SF_ID).map_err(|e| malformed(e.to_string()))?;
        SalesforceId::parse(id).map(Some).map_err(|e| malformed(e.to_string()))
    }
}

fn condition_failed(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

/// The counterpart recorded in the item that made the condition fail (returned thanks to ALL_OLD).
fn old_value(reason: Option<&CancellationReason>, attr: &'static str) -> Option<String> {
    reason
        .and_then(CancellationReason::item)
        .and_then(|item| opt_s(item, attr).ok().flatten())
        .map(str::to_owned)
}
