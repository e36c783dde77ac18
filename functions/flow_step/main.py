"""flow_step: every later turn of a call.

    POST /webhook/voice/step?seq=N   Gather, Dial, Enqueue and Record actions and HTTP-node redirects
"""

import functions_framework

from common.bootstrap import services
from common.web import voice


@functions_framework.http
def flow_step(request):  # type: ignore[no-untyped-def]
    return voice.handle(request, services(), routes=("step",))
