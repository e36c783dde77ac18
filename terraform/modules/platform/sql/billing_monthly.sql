-- billing_monthly: per tenant and UTC month (the month of each call's start; see call_costs.sql).
-- Twilio's voice charge is a pass-through on the tenant's own Twilio account: it is shown next to,
-- never inside, the platform cost.
SELECT
  tenant_id,
  month,
  COUNT(*) AS calls,
  COUNTIF(NOT completed) AS calls_not_completed,
  SUM(billable_minutes) AS billable_minutes,
  SUM(webhook_steps) AS webhook_steps,
  SUM(http_requests) AS http_requests,
  SUM(recording_seconds) AS recording_seconds,
  SUM(transfers) AS transfers,
  SUM(events) AS events,
  SUM(function_requests) AS function_requests,
  SUM(firestore_reads) AS firestore_reads,
  SUM(firestore_writes) AS firestore_writes,
  SUM(firestore_deletes) AS firestore_deletes,
  SUM(platform_cost_usd) AS platform_cost_usd,
  SUM(twilio_voice_usd) AS twilio_voice_usd
FROM `${project}.${dataset}.call_costs`
GROUP BY tenant_id, month
