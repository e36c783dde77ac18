-- Generated from common/core/events.py (python tools/generate_event_schemas.py): do not edit.
CREATE TABLE IF NOT EXISTS call_events (
  event_id VARCHAR NOT NULL,
  schema_version BIGINT NOT NULL,
  type VARCHAR NOT NULL,
  tenant_id VARCHAR NOT NULL,
  call_sid VARCHAR,
  flow_id VARCHAR,
  flow_version VARCHAR,
  node_id VARCHAR,
  department_id VARCHAR,
  agent_id VARCHAR,
  occurred_at TIMESTAMPTZ NOT NULL,
  billable_seconds BIGINT,
  data JSON,
  event_index BIGINT
);
