//! Serve mode: the copy-paste block that tells a developer how to poke the running stack by hand.

use std::fmt::Write as _;

use crate::stack::{CreatedOrder, Stack};

/// The guidance printed when the stack stays up (URLs, this run's secrets, ready-to-run curl commands).
pub fn guidance(stack: &Stack, moto_endpoint: &str, demo: Option<&CreatedOrder>) -> String {
    let front = stack.front_url();
    let sf = stack.salesforce().base_url();
    let lw = stack.logiwa().base_url();
    let key = stack.signing_key();
    let token = stack.logiwa_token();
    let sf_path = stack
        .route_path("salesforce-webhook")
        .unwrap_or_else(|_| "/webhooks/salesforce".into());
    let lw_path = stack
        .route_path("wms-webhook")
        .map(|p| p.replace("{system}", "logiwa"))
        .unwrap_or_else(|_| "/webhooks/wms/logiwa".into());
    let record = demo.map_or("<FulfillmentOrder id>", |o| o.id.as_str());
    let code = demo.map_or("<FulfillmentOrderNumber>", |o| o.number.as_str());
    let dlq = stack.queue_url("OrdersDLQ").unwrap_or_default();
    let sf_conf = stack.salesforce().state().config();
    let lw_conf = stack.logiwa().state().config();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"
================ waybill local stack (environment {env}) ================
  HTTP front (API Gateway)   {front}
  Salesforce simulator       {sf}
  Logiwa simulator           {lw}
  moto (SQS, DynamoDB, SM)   {moto_endpoint}
  webhook signing key        {key}
  Logiwa webhook token       {token}
  seeded FulfillmentOrder    {record} ({code}), Allocated, not yet sent

# 1. Signed Salesforce callout (HMAC-SHA256 over "<timestamp>.<body>", base64):
BODY='{{"eventId":"evt-manual-1","object":"FulfillmentOrder","recordId":"{record}"}}'
TS=$(date +%s)
SIG="v1=$(printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac '{key}' -binary | base64)"
curl -si -X POST '{front}{sf_path}' -H 'content-type: application/json' \
  -H "x-waybill-timestamp: $TS" -H "x-waybill-signature: $SIG" -d "$BODY"

# 2. Is it in the WMS? (Logiwa vendor API)
LW_TOKEN=$(curl -s -X POST '{lw}/v3.1/Authorize/token' -H 'content-type: application/json' \
  -d '{{"email":"{lw_email}","password":"{lw_password}"}}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
curl -s -H "Authorization: Bearer $LW_TOKEN" '{lw}/v3.1/ShipmentOrder/list/i/0/s/20?Code.eq={code}'

# 3. Ship it (the warehouse acts; Logiwa then posts its webhook to the front):
curl -s -X POST '{lw}/__sim/logiwa/shipmentorders/{code}/ship' -H 'content-type: application/json' -d '{{}}'

# 4. A Logiwa webhook by hand (token in the query string, as subscribed):
curl -si -X POST '{front}{lw_path}?token={token}' -H 'content-type: application/json' \
  -d '{{"Identifier":"00000000-0000-0000-0000-000000000000","Code":"{code}","PreviousStatus":"ReadyToPick","CurrentStatus":"Shipped","ClientId":10001}}'

# 5. Salesforce vendor API: shipments and status
SF_TOKEN=$(curl -s -X POST '{sf}/services/oauth2/token' \
  -d 'grant_type=client_credentials&client_id={sf_id}&client_secret={sf_secret}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
curl -s -G -H "Authorization: Bearer $SF_TOKEN" '{sf}/services/data/v62.0/query' \
  --data-urlencode "q=SELECT Id, TrackingNumber, FulfillmentOrder.Status FROM Shipment WHERE FulfillmentOrderId = '{record}'"

# 6. Simulator call counters and faults
curl -s '{sf}/__sim/stats'; echo; curl -s '{lw}/__sim/stats'; echo
curl -s -X POST '{sf}/__sim/faults' -H 'content-type: application/json' \
  -d '{{"method":"PATCH","pathContains":"/composite/sobjects/Shipment","times":1,"action":{{"kind":"commitThenFail","status":500}}}}'

# 7. Queues and DLQs (moto)
AWS_ENDPOINT_URL={moto_endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
  aws sqs get-queue-attributes --queue-url '{dlq}' --attribute-names ApproximateNumberOfMessages
AWS_ENDPOINT_URL={moto_endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
  aws sqs receive-message --queue-url '{dlq}' --message-attribute-names All --attribute-names All

Ctrl-C stops everything.
========================================================================="#,
        env = stack.environment,
        lw_email = lw_conf.email,
        lw_password = lw_conf.password,
        sf_id = sf_conf.client_id,
        sf_secret = sf_conf.client_secret,
    );
    s
}
