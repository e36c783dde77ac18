-- flow_costs: per tenant, month, flow and version: what its calls cost, in total and per call.
-- A call is counted under the flow and version that handled it (the one flow_id / flow_version its
-- events carry); calls that never reached a flow (no deployment, closed before routing) have none.
SELECT
  tenant_id,
  month,
  flow_id,
  flow_version,
  COUNT(*) AS calls,
  SUM(billable_minutes) AS billable_minutes,
  SUM(webhook_steps) AS webhook_steps,
  SUM(http_requests) AS http_requests,
  SUM(events) AS events,
  SUM(platform_cost_usd) AS platform_cost_usd,
  SUM(twilio_voice_usd) AS twilio_voice_usd,
  SUM(platform_cost_usd) / COUNT(*) AS platform_cost_per_call_usd,
  SUM(twilio_voice_usd) / COUNT(*) AS twilio_voice_per_call_usd
FROM `${project}.${dataset}.call_costs`
GROUP BY tenant_id, month, flow_id, flow_version
