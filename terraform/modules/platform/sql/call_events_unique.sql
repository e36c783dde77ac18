-- call_events_unique: every call event exactly once.
-- Pub/Sub delivers at least once and the sweeper republishes what it is unsure about, so the table
-- may hold several rows of one event; they share the event_id (derived from the source, never random)
-- and carry the same columns. Keep one, the earliest, so a rerun of this view picks the same row.
-- Every other view reads events through this one, never the table.
SELECT * EXCEPT (copy_number)
FROM (
  SELECT
    events.*,
    ROW_NUMBER() OVER (PARTITION BY events.event_id ORDER BY events.occurred_at) AS copy_number
  FROM `${project}.${dataset}.call_events` AS events
)
WHERE copy_number = 1
