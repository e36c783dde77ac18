"""flow_step: every later turn of a call, and the department routing webhooks of its caller and agents.

    POST /webhook/voice/step?seq=N           Gather, Dial, Enqueue and Record actions and HTTP-node redirects
    POST /webhook/departments/<kind>?t=&d=&e=  hold loop, escape menu, agent whisper and accept, dial results,
                                             callbacks, the department's voicemail (common/web/department_hooks.py)
"""

import functions_framework

from common import observability
from common.bootstrap import services
from common.core.queue_twiml import PREFIX
from common.web import department_hooks, unrouted, voice

observability.install("flow_step")
unrouted.install(functions_framework)


@functions_framework.http
@observability.observed("flow_step")
def flow_step(request):  # type: ignore[no-untyped-def]
    if request.path.startswith(PREFIX + "/"):
        return department_hooks.handle(request, services())
    return voice.handle(request, services(), routes=("step",))
