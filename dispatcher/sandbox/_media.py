"""The media session access URL: ``/media/<token>``, reachable like the API (not a control route).

It models the reference campaign scenario, whose AppEvents.HttpRequest handler records the
outcome "stopped" and calls VoxEngine.terminate(): any request (any method, any body) to a
live session's URL ends the session now and answers 200; the leg's custom data becomes
``{"outcome":"stopped"}``. A session that already ended, or a token that was never issued,
answers 404 (on the real platform the URL stops answering once the session is gone).
"""

from __future__ import annotations

from aiohttp import web

from ._ledger import LedgerEntry
from ._sessions import hung_up, is_live
from ._state import STATE, State


def add_media_routes(app: web.Application) -> None:
    """Register the access URL route on ``app``."""
    app.router.add_route("*", "/media/{token}", media_handler)


def hang_up(state: State, token: str) -> LedgerEntry | None:
    """End the live session with this token now; None if there is none."""
    entry = state.ledger.by_token(token)
    now = state.now()
    if entry is None or not is_live(entry, now):
        return None
    ended = hung_up(entry, now)
    state.ledger.replace(ended)
    state.stats.hangups += 1
    return ended


async def media_handler(request: web.Request) -> web.Response:
    """Any request to a session's access URL: hang it up (200), or 404 if it is not live."""
    state = request.app[STATE]
    if request.body_exists:
        await request.read()  # the scenario receives the body; the sandbox just drains it
    if hang_up(state, request.match_info["token"]) is None:
        raise web.HTTPNotFound(text="no live media session at this URL")
    return web.Response(text="OK")
