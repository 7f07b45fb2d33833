"""Who is signed in to the operator screens, and the CSRF check of every screen form.

The session is a signed cookie (the stack's secret, see platform/signed_cookies): the operator's
id, name, plant, work center and role, and the commit LSN of their last change, so that the next
page reads at least what they wrote. CSRF is a signed double submit: a random token lives in an
HttpOnly, SameSite=Strict cookie and in a hidden field of every form; a POST must carry both,
equal, and signed by this service, or it is refused with 403.
"""

import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from reference_services.platform.signed_cookies import CookieSigner

log = logging.getLogger(__name__)

SESSION_COOKIE = "mes_session"
CSRF_COOKIE = "mes_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 8 * 3600
CSRF_MAX_AGE_S = 24 * 3600
MAX_FORM_BYTES = 16_384
PATH = "/screens"


class LoginRequired(Exception):
    """The page needs a signed-in user."""


class Forbidden(Exception):
    """The signed-in user's role may not do this."""


class CsrfRefused(Exception):
    """A form arrived without the CSRF token of this browser."""


@dataclass(frozen=True)
class ScreenSession:
    user_id: uuid.UUID
    name: str
    plant: str
    work_center: str | None
    role: str
    lsn: int | None = None

    @property
    def is_planner(self) -> bool:
        return self.role == "planner"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


class ScreenAuth:
    def __init__(self, secret: str) -> None:
        if not secret:
            log.warning("no MES_JWT_SECRET: screen sessions are signed with a per-process key")
            secret = secrets.token_urlsafe(32)
        self._sessions = CookieSigner(secret, "mes-screen-session")
        self._csrf = CookieSigner(secret, "mes-screen-csrf")

    def session(self, request: Request) -> ScreenSession | None:
        payload = self._sessions.unsign(request.cookies.get(SESSION_COOKIE), SESSION_MAX_AGE_S)
        if payload is None:
            return None
        try:
            return ScreenSession(
                uuid.UUID(payload["sub"]),
                str(payload["name"]),
                str(payload["plant"]),
                payload.get("wc"),
                str(payload["role"]),
                payload.get("lsn"),
            )
        except (KeyError, ValueError):
            return None

    def require(self, request: Request) -> ScreenSession:
        found = self.session(request)
        if found is None:
            raise LoginRequired
        return found

    def start_session(self, response: Response, session: ScreenSession) -> None:
        value = self._sessions.sign(
            {
                "sub": str(session.user_id),
                "name": session.name,
                "plant": session.plant,
                "wc": session.work_center,
                "role": session.role,
                "lsn": session.lsn,
            }
        )
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_MAX_AGE_S,
            path=PATH,
            httponly=True,
            samesite="lax",
        )

    def end_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, samesite="lax")

    def csrf_token(self, request: Request) -> tuple[str, bool]:
        """This browser's CSRF token, and whether it is new (and must be set as a cookie)."""
        held = request.cookies.get(CSRF_COOKIE)
        if held and self._csrf.unsign(held, CSRF_MAX_AGE_S) is not None:
            return held, False
        return self._csrf.sign({"n": secrets.token_urlsafe(16)}), True

    def set_csrf_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            max_age=CSRF_MAX_AGE_S,
            path=PATH,
            httponly=True,
            samesite="strict",
        )

    async def form(self, request: Request) -> dict[str, str]:
        """The POSTed form (url-encoded), once its CSRF token checks out; else CsrfRefused."""
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise CsrfRefused
        try:
            pairs = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise CsrfRefused from None
        form = {name: values[-1] for name, values in pairs.items()}
        sent = form.pop(CSRF_FIELD, "")
        held = request.cookies.get(CSRF_COOKIE, "")
        if (
            not sent
            or not hmac.compare_digest(sent.encode(), held.encode())
            or self._csrf.unsign(held, CSRF_MAX_AGE_S) is None
        ):
            raise CsrfRefused
        return form
