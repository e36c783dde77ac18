-- node_outcomes: per tenant, flow, version, node and outcome: how callers left the node.
-- outcome is node.left's outcome, the edge label taken ("success", "failed", "1", "timeout"...).
-- seconds_* is the time spent at the node before leaving by that outcome (duration_ms, measured when
-- the event was derived, so it does not depend on the order rows arrive in).
-- Only counts: nothing here depends on the order of a call's events. Readers that draw outcomes in
-- funnel order sort them by node_funnel's average_step (ordered by occurred_at, event_index).
WITH events AS (
  SELECT * FROM `${project}.${dataset}.call_events_unique` WHERE call_sid IS NOT NULL
),
call_flows AS (
  SELECT tenant_id, call_sid, MAX(flow_id) AS flow_id, MAX(flow_version) AS flow_version
  FROM events
  GROUP BY tenant_id, call_sid
)
SELECT
  e.tenant_id,
  f.flow_id,
  f.flow_version,
  e.node_id,
  IFNULL(JSON_VALUE(e.data, '$.outcome'), '(none)') AS outcome,
  COUNT(*) AS `left`,
  COUNT(DISTINCT e.call_sid) AS callers,
  IFNULL(SUM(SAFE_CAST(JSON_VALUE(e.data, '$.duration_ms') AS INT64)), 0) / 1000 AS seconds_total,
  AVG(SAFE_CAST(JSON_VALUE(e.data, '$.duration_ms') AS INT64)) / 1000 AS seconds_average
FROM events AS e
JOIN call_flows AS f
  ON f.tenant_id = e.tenant_id AND f.call_sid = e.call_sid
WHERE e.type = 'node.left' AND e.node_id IS NOT NULL AND f.flow_id IS NOT NULL
GROUP BY e.tenant_id, f.flow_id, f.flow_version, e.node_id, outcome
