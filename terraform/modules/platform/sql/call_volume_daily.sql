-- call_volume_daily: call_volume_hourly rolled up per tenant, flow and UTC day (the day of each
-- call's start). The success rate is recomputed from the day's counts, not averaged over hours.
SELECT
  tenant_id,
  flow_id,
  DATE(hour) AS day,
  SUM(calls_started) AS calls_started,
  SUM(calls_completed) AS calls_completed,
  SUM(calls_failed) AS calls_failed,
  SUM(calls_succeeded) AS calls_succeeded,
  SUM(calls_in_progress) AS calls_in_progress,
  SAFE_DIVIDE(SUM(calls_succeeded), SUM(calls_succeeded) + SUM(calls_failed)) AS success_rate,
  SUM(failed_guard) AS failed_guard,
  SUM(failed_unhandled_outcome) AS failed_unhandled_outcome,
  SUM(failed_fallback) AS failed_fallback,
  SUM(fallback_answers) AS fallback_answers
FROM `${project}.${dataset}.call_volume_hourly`
GROUP BY tenant_id, flow_id, DATE(hour)
