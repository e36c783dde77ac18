"""Two deploys racing for the same number on Google's Firestore emulator: one consistent winner."""

from __future__ import annotations

import threading
from typing import Any

from common.service.admin import ApiError
from tests.deploy.conftest import DEMO_NUMBER, TENANT_A, example, make_stack

NUMBER = DEMO_NUMBER


def test_concurrent_deploys_to_one_number_have_one_winner_and_a_consistent_history(
    firestore_store: Any
) -> None:
    stack = make_stack(firestore_store)
    tenant = stack.svc.admin.authenticate(f"Bearer {stack.keys[TENANT_A]}")
    for version in ("1.1.0", "1.2.0"):
        flow = example("support_line")
        flow["nodes"][1]["data"]["text"] = f"Greeting {version}"
        stack.svc.admin.put_flow(tenant, "support_line", flow, None)
        stack.svc.deployments.publish(tenant, "support_line", {"version": version}, "test")

    for round_ in range(3):
        before = stack.svc.store.get_number(NUMBER)
        assert before is not None and before.deployment is not None
        barrier = threading.Barrier(2)
        outcomes: dict[str, Any] = {}

        def deploy(version: str, barrier: threading.Barrier = barrier, outcomes: dict[str, Any] = outcomes) -> None:
            barrier.wait()
            try:
                outcomes[version] = stack.svc.deployments.deploy(
                    tenant, "support_line", {"phoneNumbers": [NUMBER], "version": version}, f"racer-{version}"
                )
            except ApiError as exc:
                outcomes[version] = exc

        threads = [threading.Thread(target=deploy, args=(v,)) for v in ("1.1.0", "1.2.0")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        winners = [v for v, o in outcomes.items() if isinstance(o, dict)]
        print(f"round {round_}: {len(winners)} accepted, {len(outcomes) - len(winners)} refused with 409")
        losers = [o for o in outcomes.values() if isinstance(o, ApiError)]
        assert len(winners) >= 1, outcomes
        assert all(loser.status == 409 for loser in losers), outcomes
        after = stack.svc.store.get_number(NUMBER)
        assert after is not None and after.deployment is not None
        history = stack.svc.store.list_deployments(TENANT_A)
        ids = [d.id for d in history]
        assert after.deployment.id == ids[0], f"round {round_}: the number points at the newest history entry"
        new = [d for d in history if d.id not in {before.deployment.id} and d.created_by.startswith("racer-")]
        # Every deployment that was accepted is in the history, chained from the one it replaced.
        accepted = {outcomes[v]["id"] for v in winners}
        assert accepted <= {d.id for d in new}
        winner = next(d for d in history if d.id == after.deployment.id)
        assert winner.previous[NUMBER] is not None
        if len(winners) == 1:
            assert winner.previous[NUMBER]["id"] == before.deployment.id
        else:  # serialised rather than raced: the second must have seen the first
            assert winner.previous[NUMBER]["id"] in accepted | {before.deployment.id}
