-- node_funnel: per tenant, flow, version and node: how many calls got there and what happened.
--   entered          node.entered events (a caller looping through a menu enters it again)
--   callers          distinct calls that entered the node
--   left             node.left events (their outcomes are in node_outcomes)
--   hung_up          calls whose caller hung up while at this node (call.completed with end_reason
--                    caller_hangup; its node_id is the node the caller was at)
--   ended            calls that ended at this node, for any reason (a hangup node, a transfer...)
--   seconds_total / seconds_average   time spent at the node: node.left's duration_ms
--   average_step     mean position of the node in its calls (1 = first node entered): the order
--                    a funnel is drawn in. The events of one webhook share occurred_at, so a call's
--                    nodes are ordered by occurred_at, then event_index (the event's position in the
--                    call's stream); rows written before event_index existed (null) fall back to
--                    event_id, which is stable but not the call's order.
-- A call is counted under the flow and version its events carry.
WITH events AS (
  SELECT * FROM `${project}.${dataset}.call_events_unique` WHERE call_sid IS NOT NULL
),
call_flows AS (
  SELECT tenant_id, call_sid, MAX(flow_id) AS flow_id, MAX(flow_version) AS flow_version
  FROM events
  GROUP BY tenant_id, call_sid
),
steps AS (
  SELECT
    tenant_id,
    call_sid,
    node_id,
    ROW_NUMBER() OVER (PARTITION BY tenant_id, call_sid ORDER BY occurred_at, IFNULL(event_index, -1), event_id)
      AS step
  FROM events
  WHERE type = 'node.entered'
),
node_steps AS (
  SELECT tenant_id, call_sid, node_id, MIN(step) AS step
  FROM steps
  GROUP BY tenant_id, call_sid, node_id
),
at_node AS (
  SELECT
    e.tenant_id,
    f.flow_id,
    f.flow_version,
    e.node_id,
    e.call_sid,
    e.type,
    e.data
  FROM events AS e
  JOIN call_flows AS f
    ON f.tenant_id = e.tenant_id AND f.call_sid = e.call_sid
  WHERE e.node_id IS NOT NULL AND f.flow_id IS NOT NULL
),
counted AS (
  SELECT
    tenant_id,
    flow_id,
    flow_version,
    node_id,
    MAX(IF(type = 'node.entered', JSON_VALUE(data, '$.node_type'), NULL)) AS node_type,
    COUNTIF(type = 'node.entered') AS entered,
    COUNT(DISTINCT IF(type = 'node.entered', call_sid, NULL)) AS callers,
    COUNTIF(type = 'node.left') AS `left`,
    COUNTIF(type = 'call.completed' AND JSON_VALUE(data, '$.end_reason') = 'caller_hangup') AS hung_up,
    COUNTIF(type = 'call.completed') AS ended,
    IFNULL(SUM(IF(type = 'node.left', SAFE_CAST(JSON_VALUE(data, '$.duration_ms') AS INT64), NULL)), 0) / 1000
      AS seconds_total,
    AVG(IF(type = 'node.left', SAFE_CAST(JSON_VALUE(data, '$.duration_ms') AS INT64), NULL)) / 1000
      AS seconds_average
  FROM at_node
  GROUP BY tenant_id, flow_id, flow_version, node_id
),
ordered AS (
  SELECT f.tenant_id, f.flow_id, f.flow_version, s.node_id, AVG(s.step) AS average_step
  FROM node_steps AS s
  JOIN call_flows AS f
    ON f.tenant_id = s.tenant_id AND f.call_sid = s.call_sid
  GROUP BY f.tenant_id, f.flow_id, f.flow_version, s.node_id
)
SELECT
  c.*,
  o.average_step
FROM counted AS c
LEFT JOIN ordered AS o
  ON o.tenant_id = c.tenant_id AND o.flow_id = c.flow_id AND o.flow_version = c.flow_version
 AND o.node_id = c.node_id
