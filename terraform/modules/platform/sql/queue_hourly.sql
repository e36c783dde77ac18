-- queue_hourly: per tenant, department and UTC hour, the department's queue as a supervisor reads it.
-- The unit is a visit: one call in one department's queue (a call that overflows to another
-- department visits that one too). A visit is counted in the hour it joined the queue.
--   offered      visits (calls offered to the department: they joined its queue)
--   answered     visits an agent answered (queue.answered)
--   abandoned    visits whose caller hung up while waiting (queue.abandoned), unless answered
--   left_other   visits that ended otherwise: timeout, voicemail, callback requested, no agents
--   agent_offers times the department rang an agent for these visits (queue.offered)
--   service_level  answered within the department's threshold / (answered + abandoned after the
--                threshold), as the live department stats count it: a caller who hangs up within
--                the threshold counts neither way. The threshold is the department's
--                service_level_seconds that queue.answered and queue.abandoned carry (the events
--                alone say it); an answer without it is not within, an abandon without it counts.
--                NULL when the base is 0
--   wait_average_seconds, wait_p90_seconds   time to answer of answered visits (p90 interpolated)
--   abandon_wait_average_seconds          time callers waited before hanging up
WITH visits AS (
  SELECT
    tenant_id,
    department_id,
    call_sid,
    MIN(IF(type = 'queue.joined', occurred_at, NULL)) AS joined_at,
    MIN(occurred_at) AS first_event_at,
    LOGICAL_OR(type = 'queue.answered') AS answered,
    LOGICAL_OR(type = 'queue.abandoned') AS abandoned,
    COUNTIF(type = 'queue.offered') AS agent_offers,
    MAX(IF(type = 'queue.answered', SAFE_CAST(JSON_VALUE(data, '$.wait_seconds') AS FLOAT64), NULL)) AS answer_wait,
    MAX(IF(type IN ('queue.answered', 'queue.abandoned'),
           SAFE_CAST(JSON_VALUE(data, '$.service_level_seconds') AS FLOAT64), NULL)) AS service_level_seconds,
    MAX(IF(type = 'queue.abandoned', SAFE_CAST(JSON_VALUE(data, '$.wait_seconds') AS FLOAT64), NULL)) AS abandon_wait
  FROM `${project}.${dataset}.call_events_unique`
  WHERE department_id IS NOT NULL AND call_sid IS NOT NULL AND STARTS_WITH(type, 'queue.')
  GROUP BY tenant_id, department_id, call_sid
),
hourly AS (
  SELECT
    tenant_id,
    department_id,
    call_sid,
    TIMESTAMP_TRUNC(IFNULL(joined_at, first_event_at), HOUR) AS hour,
    answered,
    abandoned AND NOT answered AS abandoned,
    agent_offers,
    IF(answered, answer_wait, NULL) AS answer_wait,
    IFNULL(answered AND answer_wait <= service_level_seconds, FALSE) AS within_service_level,
    abandoned AND NOT answered AND IFNULL(abandon_wait > service_level_seconds, TRUE) AS abandoned_late,
    IF(abandoned AND NOT answered, abandon_wait, NULL) AS abandon_wait
  FROM visits
),
percentiles AS (
  SELECT
    tenant_id,
    department_id,
    hour,
    PERCENTILE_CONT(answer_wait, 0.9) OVER (PARTITION BY tenant_id, department_id, hour) AS wait_p90_seconds
  FROM hourly
  WHERE answer_wait IS NOT NULL
),
p90 AS (
  SELECT tenant_id, department_id, hour, MAX(wait_p90_seconds) AS wait_p90_seconds
  FROM percentiles
  GROUP BY tenant_id, department_id, hour
)
SELECT
  h.tenant_id,
  h.department_id,
  h.hour,
  COUNT(*) AS offered,
  COUNTIF(h.answered) AS answered,
  COUNTIF(h.abandoned) AS abandoned,
  COUNTIF(NOT h.answered AND NOT h.abandoned) AS left_other,
  SUM(h.agent_offers) AS agent_offers,
  COUNTIF(h.within_service_level) AS answered_within_service_level,
  SAFE_DIVIDE(COUNTIF(h.within_service_level), COUNTIF(h.answered) + COUNTIF(h.abandoned_late)) AS service_level,
  AVG(h.answer_wait) AS wait_average_seconds,
  MAX(p.wait_p90_seconds) AS wait_p90_seconds,
  AVG(h.abandon_wait) AS abandon_wait_average_seconds
FROM hourly AS h
LEFT JOIN p90 AS p
  ON p.tenant_id = h.tenant_id AND p.department_id = h.department_id AND p.hour = h.hour
GROUP BY h.tenant_id, h.department_id, h.hour
