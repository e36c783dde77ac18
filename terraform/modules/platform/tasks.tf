# Queue names cannot be reused for about 7 days after deletion, so this one is not prefixed per
# deployment: one project per environment.
#
# The routing timers: escalation steps of waiting callers and the periodic dispatch sweeps of
# departments. Each task POSTs to PUBLIC_BASE_URL/api/departments/tasks/<kind> with an OIDC token of
# the tasks service account (audience PUBLIC_BASE_URL), which route_department verifies. Delivery
# is at least once and task names are deterministic, so every handler is idempotent; a timer that
# still fails after its attempts is repaired by the next sweep.
#
# One queue dispatches at most 500 tasks/s; routing schedules about 2.5 timers per call, so past
# ~190 calls/s the timers are spread over routing_timer_queues queues (docs/capacity.md): every
# function gets them all in IVR_TASKS_QUEUE (comma-separated) and a hash of the timer's name picks
# its queue, so a name always lands in the same queue and Cloud Tasks' de-duplication still holds.
# The first queue keeps its name; adding queues later only adds routing-timers-1, -2, ...; taking
# them away again strands the timers already in them until they fire (they still fire).
variable "routing_timer_queues" {
  description = "How many Cloud Tasks queues carry the routing timers (each 500 dispatches/s at most)."
  type        = number
  default     = 1

  validation {
    condition     = var.routing_timer_queues >= 1 && var.routing_timer_queues <= 16 && floor(var.routing_timer_queues) == var.routing_timer_queues
    error_message = "routing_timer_queues must be a whole number from 1 to 16."
  }
}

locals {
  route_department_sizing = var.functions["route_department"]
  # What IVR_TASKS_QUEUE carries: every routing timer queue's full path, in order.
  routing_timer_queue_ids = join(",", google_cloud_tasks_queue.routing_timers[*].id)
}

# The queue was a single resource before it could be sharded: keep it, do not recreate it.
moved {
  from = google_cloud_tasks_queue.routing_timers
  to   = google_cloud_tasks_queue.routing_timers[0]
}

resource "google_cloud_tasks_queue" "routing_timers" {
  count = var.routing_timer_queues

  project  = var.project_id
  name     = count.index == 0 ? "routing-timers" : "routing-timers-${count.index}"
  location = var.region

  rate_limits {
    # Cloud Tasks' own ceiling per queue.
    max_dispatches_per_second = 500
    # No more requests in flight than route_department can serve: a 429 from a saturated function
    # would use up an attempt of a timer that was merely early.
    max_concurrent_dispatches = min(5000, local.route_department_sizing.max_instances * local.route_department_sizing.max_instance_request_concurrency)
  }

  # Retries 1 s, 2 s, 4 s, 8 s after the first attempt: a timer is due now, so retry soon, and give
  # up within seconds rather than act on a caller's state from minutes ago.
  retry_config {
    max_attempts  = 5
    min_backoff   = "1s"
    max_backoff   = "60s"
    max_doublings = 4
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}
