"""incoming_call: Twilio's voice webhooks that need no cursor yet.

    POST /webhook/voice/incoming   a call arrives: run the deployed flow until it waits
    POST /webhook/voice/status     the call ended: finalise it
    POST /webhook/voice/fallback   the number's Fallback URL: apologise and dial the fallback (no store)
"""

import functions_framework

from common import observability
from common.bootstrap import services
from common.web import unrouted, voice

observability.install("incoming_call")
unrouted.install(functions_framework)


@functions_framework.http
@observability.observed("incoming_call")
def incoming_call(request):  # type: ignore[no-untyped-def]
    return voice.handle(request, services(), routes=("incoming", "status", "fallback"))
