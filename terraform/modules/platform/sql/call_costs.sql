-- call_costs: one row per call: what it did, what it is billed and what it costs us.
-- Billing rules:
--   * A call belongs to the UTC month of its call.started (a call that starts at 23:59 on the last
--     day of a month is billed in that month, whenever its other events arrive). A call whose
--     call.started is missing is dated by its earliest event.
--   * Billable minutes = ceil(billable_seconds / 60) per call, as Twilio rounds every call up to the
--     minute. A call without call.completed has no billable_seconds yet: 0 minutes and
--     completed = FALSE until its completion arrives (a late event updates the month it belongs to).
-- Counted operations (what the platform did for this call), priced with platform_prices at the
-- call's start date:
--   function_requests  = webhook_steps (every webhook request Twilio made for the call: incoming,
--                        steps and the status callback; each is one function invocation)
--   firestore_reads    = webhook_steps (each webhook reads the call document once)
--   firestore_writes   = 2 x webhook_steps (the call document with its outbox, then the outbox
--                        marked published)
--   firestore_deletes  = 1 (the call document's TTL delete)
--   pubsub bytes       = 1,000 x events (Pub/Sub bills at least 1,000 bytes per publish request and
--                        a webhook publishes its events in one request; our events are smaller)
--   bigquery bytes     = 1,000 x events through the BigQuery subscription
--   storage            = 500 bytes x events for one month of active storage
-- Counts are an estimate from events, not Google's bill: free tiers, the number lookup's cache and
-- retried webhooks are not counted.
WITH calls AS (
  SELECT
    tenant_id,
    call_sid,
    MAX(flow_id) AS flow_id,
    MAX(flow_version) AS flow_version,
    MIN(IF(type = 'call.started', occurred_at, NULL)) AS started_at,
    MIN(occurred_at) AS first_event_at,
    LOGICAL_OR(type = 'call.completed') AS completed,
    MAX(IF(type = 'call.completed', billable_seconds, NULL)) AS billable_seconds,
    MAX(IF(type = 'call.completed', JSON_VALUE(data, '$.end_reason'), NULL)) AS end_reason,
    MAX(IF(type = 'call.completed', SAFE_CAST(JSON_VALUE(data, '$.webhook_steps') AS INT64), NULL)) AS webhook_steps,
    COUNTIF(type = 'http.requested') AS http_requests,
    SUM(IF(type = 'recording.ended' AND IFNULL(SAFE_CAST(JSON_VALUE(data, '$.recorded') AS BOOL), TRUE),
           IFNULL(SAFE_CAST(JSON_VALUE(data, '$.duration_seconds') AS INT64), 0), 0)) AS recording_seconds,
    COUNTIF(type = 'transfer.started') AS transfers,
    COUNT(*) AS events
  FROM `${project}.${dataset}.call_events_unique`
  WHERE call_sid IS NOT NULL
  GROUP BY tenant_id, call_sid
),
counted AS (
  SELECT
    tenant_id,
    call_sid,
    flow_id,
    flow_version,
    IFNULL(started_at, first_event_at) AS started_at,
    CAST(DATE_TRUNC(DATE(IFNULL(started_at, first_event_at)), MONTH) AS DATE) AS month,
    completed,
    end_reason,
    IFNULL(billable_seconds, 0) AS billable_seconds,
    CAST(CEIL(IFNULL(billable_seconds, 0) / 60) AS INT64) AS billable_minutes,
    IFNULL(webhook_steps, 0) AS webhook_steps,
    http_requests,
    recording_seconds,
    transfers,
    events,
    IFNULL(webhook_steps, 0) AS function_requests,
    IFNULL(webhook_steps, 0) AS firestore_reads,
    2 * IFNULL(webhook_steps, 0) AS firestore_writes,
    1 AS firestore_deletes,
    1000 * events AS pubsub_bytes,
    1000 * events AS bigquery_subscription_bytes,
    500 * events AS bigquery_storage_bytes
  FROM calls
),
priced AS (
  SELECT
    c.call_sid,
    c.tenant_id,
    SUM(CASE p.item
          WHEN 'twilio_voice_minute' THEN c.billable_minutes * p.usd_per_unit
          ELSE 0 END) AS twilio_voice_usd,
    SUM(CASE p.item
          WHEN 'function_request' THEN c.function_requests * p.usd_per_unit
          WHEN 'firestore_read' THEN c.firestore_reads * p.usd_per_unit
          WHEN 'firestore_write' THEN c.firestore_writes * p.usd_per_unit
          WHEN 'firestore_delete' THEN c.firestore_deletes * p.usd_per_unit
          WHEN 'pubsub_publish_byte' THEN c.pubsub_bytes * p.usd_per_unit
          WHEN 'pubsub_bigquery_byte' THEN c.bigquery_subscription_bytes * p.usd_per_unit
          WHEN 'bigquery_storage_byte_month' THEN c.bigquery_storage_bytes * p.usd_per_unit
          ELSE 0 END) AS platform_cost_usd
  FROM counted AS c
  JOIN `${project}.${dataset}.platform_prices` AS p
    ON p.effective_from <= DATE(c.started_at)
   AND (p.effective_to IS NULL OR DATE(c.started_at) < p.effective_to)
  GROUP BY c.call_sid, c.tenant_id
)
SELECT
  c.*,
  IFNULL(p.twilio_voice_usd, 0) AS twilio_voice_usd,
  IFNULL(p.platform_cost_usd, 0) AS platform_cost_usd
FROM counted AS c
LEFT JOIN priced AS p
  ON p.tenant_id = c.tenant_id AND p.call_sid = c.call_sid
