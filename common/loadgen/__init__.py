"""Load generation for a running stack: many simulated Twilio calls at once, over HTTP.

    mix.py       what callers do: weighted caller scripts per number, from a JSON file or the default mix
    transport.py the HTTP side: keep-alive sessions per thread, timing, TwiML checks, duplicate deliveries
    runner.py    arrivals (rate, ramp, burst), pacing, the worker threads, the run's bounds, progress
    report.py    percentiles per webhook kind, the JSON result, the SVG latency chart, the summary

Each call is a ``common.callsim.CallSession``: it signs every webhook like Twilio and follows the
TwiML it gets, so a load run plays calls exactly as ``ivr call`` does, only many at a time. The
runner drives sessions one request at a time (``CallSession.step``), so a thousand calls that spend
most of their time listening to prompts need a few dozen threads, not a thousand.
"""
