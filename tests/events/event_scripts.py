"""Scripted calls the event tests share, and the events each exports."""

SALES = ["1", "queue:bridged"]  # support_line: sales by DTMF, the Twilio queue bridges, goodbye
SALES_TYPES = ["call.routed", "call.started", "node.entered", "node.left", "node.entered", "node.left",
               "node.entered", "input.accepted", "node.left", "node.entered", "decision.matched", "node.left",
               "node.entered", "transfer.started", "transfer.ended", "node.left", "node.entered",
               "call.completed"]  # fmt: skip
