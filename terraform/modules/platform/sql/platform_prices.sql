-- platform_prices: the price table, the one place prices live (dated, with sources).
-- Every cost in the reports is a counted quantity (call_costs.sql) times a row of this table, taken at
-- the call's start date: a new price is a new row with a later effective_from (and effective_to set
-- on the row it replaces), so past months keep the prices they were billed at.
-- kind: 'platform' is what running the platform costs us; 'pass_through' is billed by Twilio to the
-- tenant's account and shown separately, never added to the platform cost.
-- Prices are USD list prices, before free tiers and discounts (the estimate is an upper bound).
-- Sources, read 2026-11:
--   Twilio Programmable Voice, United States, receive calls on a local number: $0.0085 per minute,
--     each call rounded up to the next minute (https://www.twilio.com/en-us/voice/pricing/us).
--   Cloud Functions (2nd gen, billed as Cloud Run requests): $0.40 per million invocations
--     (https://cloud.google.com/functions/pricing).
--   Firestore, nam5 multi-region: document reads $0.06, writes $0.18, deletes $0.02 per 100,000
--     (https://cloud.google.com/firestore/pricing; TTL deletes are billed as deletes).
--   Pub/Sub message delivery (publish throughput): $40 per TiB; BigQuery subscription throughput:
--     $50 per TiB, which covers writing into the table (https://cloud.google.com/pubsub/pricing).
--   BigQuery active logical storage: $0.02 per GiB per month (https://cloud.google.com/bigquery/pricing).
SELECT
  item,
  kind,
  unit,
  usd_per_unit,
  effective_from,
  effective_to,
  source
FROM UNNEST([
  STRUCT('twilio_voice_minute' AS item, 'pass_through' AS kind, 'minute' AS unit,
         CAST(0.0085 AS FLOAT64) AS usd_per_unit, DATE '2026-01-01' AS effective_from, CAST(NULL AS DATE) AS effective_to,
         'https://www.twilio.com/en-us/voice/pricing/us' AS source),
  STRUCT('function_request', 'platform', 'request',
         0.40 / 1000000, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/functions/pricing'),
  STRUCT('firestore_read', 'platform', 'document read',
         0.06 / 100000, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/firestore/pricing'),
  STRUCT('firestore_write', 'platform', 'document write',
         0.18 / 100000, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/firestore/pricing'),
  STRUCT('firestore_delete', 'platform', 'document delete',
         0.02 / 100000, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/firestore/pricing'),
  STRUCT('pubsub_publish_byte', 'platform', 'byte',
         40.0 / 1099511627776, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/pubsub/pricing'),
  STRUCT('pubsub_bigquery_byte', 'platform', 'byte',
         50.0 / 1099511627776, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/pubsub/pricing'),
  STRUCT('bigquery_storage_byte_month', 'platform', 'byte-month',
         0.02 / 1073741824, DATE '2026-01-01', CAST(NULL AS DATE),
         'https://cloud.google.com/bigquery/pricing')
])
