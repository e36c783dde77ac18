-- call_volume_hourly: per tenant, flow and UTC hour, how many calls started and how they ended.
-- A call is counted in the hour of its call.started (else its earliest event), like call_costs; a
-- late call.completed or call.fallback updates that hour. The calls are billing_monthly's calls.
--   calls_started      calls of the hour
--   calls_completed    calls whose call.completed has arrived
--   calls_failed       calls the caller heard fail: a fallback answer (call.fallback, whatever its
--                      reason: fallback_url, worker_error, worker_timeout, store_unavailable), or a completion
--                      whose end_reason is an engine guard (loop_guard, step_limit) or
--                      unhandled_outcome (the flow had no edge for what happened); counted once
--   calls_succeeded    completed and not failed (a caller hanging up, a hangup node, a transfer,
--                      Twilio's busy / no-answer / canceled and an expired call are not failures)
--   calls_in_progress  neither completed nor failed yet
--   success_rate       calls_succeeded / (calls_succeeded + calls_failed); NULL when both are 0
--   failed_guard, failed_unhandled_outcome, failed_fallback   calls failed for each cause (a call
--                      may have several)
--   fallback_answers   call.fallback events (one call may hear the fallback more than once)
WITH calls AS (
  SELECT
    tenant_id,
    call_sid,
    MAX(flow_id) AS flow_id,
    MIN(IF(type = 'call.started', occurred_at, NULL)) AS started_at,
    MIN(occurred_at) AS first_event_at,
    LOGICAL_OR(type = 'call.completed') AS completed,
    MAX(IF(type = 'call.completed', JSON_VALUE(data, '$.end_reason'), NULL)) AS end_reason,
    COUNTIF(type = 'call.fallback') AS fallback_answers
  FROM `${project}.${dataset}.call_events_unique`
  WHERE call_sid IS NOT NULL
  GROUP BY tenant_id, call_sid
),
judged AS (
  SELECT
    tenant_id,
    flow_id,
    TIMESTAMP_TRUNC(IFNULL(started_at, first_event_at), HOUR) AS hour,
    completed,
    IFNULL(end_reason IN ('loop_guard', 'step_limit'), FALSE) AS guard,
    IFNULL(end_reason = 'unhandled_outcome', FALSE) AS unhandled_outcome,
    fallback_answers > 0 AS fallback,
    fallback_answers
  FROM calls
)
SELECT
  tenant_id,
  flow_id,
  hour,
  COUNT(*) AS calls_started,
  COUNTIF(completed) AS calls_completed,
  COUNTIF(guard OR unhandled_outcome OR fallback) AS calls_failed,
  COUNTIF(completed AND NOT (guard OR unhandled_outcome OR fallback)) AS calls_succeeded,
  COUNTIF(NOT completed AND NOT (guard OR unhandled_outcome OR fallback)) AS calls_in_progress,
  SAFE_DIVIDE(COUNTIF(completed AND NOT (guard OR unhandled_outcome OR fallback)),
              COUNTIF(completed OR guard OR unhandled_outcome OR fallback)) AS success_rate,
  COUNTIF(guard) AS failed_guard,
  COUNTIF(unhandled_outcome) AS failed_unhandled_outcome,
  COUNTIF(fallback) AS failed_fallback,
  SUM(fallback_answers) AS fallback_answers
FROM judged
GROUP BY tenant_id, flow_id, hour
