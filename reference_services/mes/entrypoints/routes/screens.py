"""The operator screens: sign-in, the order queue, an order's detail and its actions.

Server-rendered HTML (Jinja2) with no script: every action is a form. Actions that change an
order ask for confirmation first (the form posts without `confirm`, the confirmation page posts
it again with `confirm=yes`), and carry the order version the user saw, so a change made by
someone else in between is a conflict the user sees, never a silent overwrite. The routes are
kept out of the OpenAPI document: they are pages, not API.
"""

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from reference_services.mes.adapters.orders_repository import (
    OrderFilter,
    list_orders,
    load_order_driver,
)
from reference_services.mes.adapters.scrap_reports import scrap_of_order
from reference_services.mes.adapters.screen_users import plant_work_centers, user_by_login
from reference_services.mes.domain.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    Action,
    IllegalTransition,
    InvalidOrder,
    OperationAction,
    OrderStatus,
    ProductionOrder,
    UnknownOperation,
)
from reference_services.mes.entrypoints.queue_cache import cached_page, order_changed, page_key
from reference_services.mes.entrypoints.screen_session import (
    CsrfRefused,
    Forbidden,
    LoginRequired,
    ScreenAuth,
    ScreenSession,
)
from reference_services.mes.service_layer import orders as use_cases
from reference_services.mes.service_layer.scrap import report_scrap
from reference_services.platform.keyset import InvalidCursor
from reference_services.platform.outcome import Outcome
from reference_services.platform.passwords import check_password
from reference_services.platform.problems import Problem
from reference_services.platform.security_headers import SecurityHeaders
from reference_services.platform.service_app import Resources

router = APIRouter(prefix="/screens", include_in_schema=False)
ENTRYPOINTS = Path(__file__).resolve().parent.parent
STATIC = ENTRYPOINTS / "static"
templates = Jinja2Templates(directory=ENTRYPOINTS / "templates")

PAGE_SIZE = 25
STATUS_FILTERS: dict[str, tuple[str, tuple[OrderStatus, ...]]] = {
    "active": ("Released and in progress", (OrderStatus.RELEASED, OrderStatus.IN_PROGRESS)),
    "open": (
        "Planned, released and on hold",
        (OrderStatus.PLANNED, OrderStatus.RELEASED, OrderStatus.ON_HOLD),
    ),
    **{s.value: (s.value.replace("_", " ").capitalize(), (s,)) for s in OrderStatus},
    "all": ("All statuses", ()),
}
SORT_CHOICES = {
    "priority": "Priority (1 first)",
    "due_date": "Due date (earliest first)",
    "-created_at": "Newest first",
}
NOTICES = {
    "start": "Operation {seq} started.",
    "complete": "Operation {seq} completed.",
    "scrap": "Scrap reported.",
    "release": "Order {ref} released.",
    "hold": "Order {ref} put on hold.",
    "resume": "Order {ref} resumed.",
    "cancel": "Order {ref} cancelled.",
    "priority": "Priority of order {ref} set to {priority}.",
}
PLANNER_ACTIONS = {
    Action.RELEASE: "Release",
    Action.HOLD: "Hold",
    Action.RESUME: "Resume",
    Action.CANCEL: "Cancel",
}
CONFLICT = (
    "Someone else changed this order while you were looking at it. "
    "Nothing was saved: check its current state below and try again."
)


class PageNotFound(Exception):
    """What the page was asked for does not exist (or is in another plant)."""


def _auth(request: Request) -> ScreenAuth:
    auth: ScreenAuth = request.app.state.screen_auth
    return auth


def _res(request: Request) -> Resources:
    res: Resources = request.app.state.resources
    return res


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    session: ScreenSession | None = None,
) -> Response:
    auth = _auth(request)
    token, new = auth.csrf_token(request)
    response = templates.TemplateResponse(
        request,
        template,
        {"user": session, "csrf_token": token, **context},
        status_code=status,
    )
    if new:
        auth.set_csrf_cookie(response, token)
    return response


def _after_change(
    request: Request, session: ScreenSession, outcome: Outcome, location: str
) -> Response:
    """See the change on the next page: remember its commit LSN in the session."""
    response = RedirectResponse(location, status_code=303)
    _auth(request).start_session(
        response,
        ScreenSession(
            session.user_id,
            session.name,
            session.plant,
            session.work_center,
            session.role,
            outcome.commit_lsn,
        ),
    )
    return response


async def _order_floor(res: Resources, order_id: uuid.UUID, session: ScreenSession) -> int | None:
    """The WAL position a read of the order must reach: its last change the cache knows of and
    the user's own last change."""
    changed = await res.cache.changed_at(f"order:{order_id}")
    floors = [lsn for lsn in (changed, session.lsn) if lsn is not None]
    return max(floors) if floors else None


async def _load(
    res: Resources, order_id: uuid.UUID, session: ScreenSession
) -> ProductionOrder | None:
    async with res.db.driver_read(await _order_floor(res, order_id, session)) as read:
        order = await load_order_driver(read.conn, order_id)
    if order is None or order.plant != session.plant:
        return None
    return order


def _parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


# --- sign-in -------------------------------------------------------------------------------


@router.get("")
async def screens_home() -> Response:
    return RedirectResponse("/screens/queue", status_code=303)


@router.get("/login")
async def login_page(request: Request) -> Response:
    if _auth(request).session(request) is not None:
        return RedirectResponse("/screens/queue", status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    return render(request, "login.html", {"errors": {}, "login": "", "signed_out": signed_out})


@router.post("/login")
async def login(request: Request) -> Response:
    auth = _auth(request)
    form = await auth.form(request)
    name, password = form.get("login", "").strip(), form.get("password", "")
    errors = {}
    if not name:
        errors["login"] = "Enter your login."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return render(request, "login.html", {"errors": errors, "login": name}, 422)
    res = _res(request)
    async with res.db.read(await res.db.current_lsn()) as read:
        user = await user_by_login(read.conn, name)
    matches = await asyncio.to_thread(
        check_password, password, user.password_hash if user else None
    )
    if user is None or not matches:
        errors["form"] = "Wrong login or password."
        return render(request, "login.html", {"errors": errors, "login": name}, 401)
    response = RedirectResponse("/screens/queue", status_code=303)
    auth.start_session(
        response, ScreenSession(user.id, user.name, user.plant, user.work_center, user.role)
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    auth = _auth(request)
    await auth.form(request)
    response = RedirectResponse("/screens/login?signed_out=1", status_code=303)
    auth.end_session(response)
    return response


# --- the queue and the planner board -------------------------------------------------------


@dataclass(frozen=True)
class QueueQuery:
    ref: str
    status: str
    work_center: str
    sort: str
    cursor: str

    def link(self, view: str, **changes: str) -> str:
        params = {
            "ref": self.ref,
            "status": self.status,
            "work_center": self.work_center,
            "sort": self.sort,
            "cursor": self.cursor,
        } | changes
        query = urlencode({k: v for k, v in params.items() if v})
        return f"/screens/{view}" + (f"?{query}" if query else "")


def _queue_query(
    request: Request, session: ScreenSession, default_status: str
) -> tuple[QueueQuery, dict[str, str]]:
    params = request.query_params
    default_wc = (session.work_center or "") if session.is_operator else ""
    query = QueueQuery(
        ref=params.get("ref", "").strip(),
        status=params.get("status", default_status),
        work_center=params.get("work_center", default_wc),
        sort=params.get("sort", "priority"),
        cursor=params.get("cursor", ""),
    )
    errors = {}
    if len(query.ref) > 64:
        errors["ref"] = "An order ref has at most 64 characters."
    if query.status not in STATUS_FILTERS:
        errors["status"] = "Choose a status from the list."
    if query.sort not in SORT_CHOICES:
        errors["sort"] = "Choose a sort order from the list."
    return query, errors


async def _queue_page(
    res: Resources, session: ScreenSession, query: QueueQuery, view: str
) -> tuple[dict[str, Any], bool]:
    """The page's orders and the plant's work centers, from the cache when it is current."""
    key = page_key(
        session.plant,
        {
            "view": view,
            "ref": query.ref,
            "status": query.status,
            "work_center": query.work_center,
            "sort": query.sort,
            "cursor": query.cursor,
            "size": PAGE_SIZE,
        },
    )
    cached, floor = await cached_page(res.cache, session.plant, key, session.lsn)
    if cached is not None:
        found: dict[str, Any] = orjson.loads(cached)
        return found, True
    where = OrderFilter(
        status=STATUS_FILTERS[query.status][1],
        plant=session.plant,
        work_center=query.work_center or None,
        order_ref_prefix=query.ref or None,
    )
    async with res.db.read(floor, track_lsn=True) as read:
        page = await list_orders(read.conn, where, query.sort, PAGE_SIZE, query.cursor or None)
        centers = await plant_work_centers(read.conn, session.plant)
    data = {
        "orders": [
            {
                "id": str(o.id),
                "order_ref": o.order_ref,
                "sku": o.sku,
                "quantity": o.quantity,
                "due_date": o.due_date.isoformat(),
                "priority": o.priority,
                "status": o.status.value,
                "version": o.version,
                "operations_done": sum(op.status == "done" for op in o.operations),
                "operations": len(o.operations),
                "work_centers": sorted(o.work_centers),
            }
            for o in page.items
        ],
        "next_cursor": page.next_cursor,
        "work_centers": centers,
    }
    if read.as_of_lsn is not None:
        await res.cache.put(key, read.as_of_lsn, orjson.dumps(data))
    return data, False


async def _queue_view(
    request: Request,
    session: ScreenSession,
    view: str,
    default_status: str,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    res = _res(request)
    query, errors = _queue_query(request, session, default_status)
    data: dict[str, Any] = {"orders": [], "next_cursor": None, "work_centers": []}
    hit = False
    if not errors:
        try:
            data, hit = await _queue_page(res, session, query, view)
        except InvalidCursor:
            errors["cursor"] = "This page link has expired. Start again from the first page."
        if (
            query.work_center
            and data["work_centers"]
            and query.work_center not in data["work_centers"]
        ):
            errors["work_center"] = f"Plant {session.plant} has no work center {query.work_center}."
    context = {
        "query": query,
        "errors": errors,
        "data": data,
        "view": view,
        "statuses": {k: label for k, (label, _) in STATUS_FILTERS.items()},
        "sorts": SORT_CHOICES,
        "priorities": range(PRIORITY_MIN, PRIORITY_MAX + 1),
        "planner_actions": PLANNER_ACTIONS,
        "notice": _notice(request),
    } | (extra or {})
    status = status_code if status_code != 200 else (422 if errors else 200)
    response = render(request, f"{view}.html", context, status, session)
    response.headers["X-Cache"] = "hit" if hit else "miss"
    return response


@router.get("/queue")
async def queue(request: Request) -> Response:
    session = _auth(request).require(request)
    return await _queue_view(request, session, "queue", "active")


@router.get("/board")
async def board(request: Request) -> Response:
    session = _auth(request).require(request)
    if not session.is_planner:
        raise Forbidden("Only planners can use the planner board.")
    return await _queue_view(request, session, "board", "open")


def _notice(request: Request) -> str | None:
    done = request.query_params.get("done")
    if done not in NOTICES:
        return None
    params = request.query_params
    return NOTICES[done].format(
        seq=params.get("seq", ""), ref=params.get("ref", ""), priority=params.get("priority", "")
    )


# --- an order ------------------------------------------------------------------------------


async def _detail(
    request: Request,
    session: ScreenSession,
    order: ProductionOrder,
    *,
    alert: str | None = None,
    errors: dict[str, str] | None = None,
    scrap_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    res = _res(request)
    async with res.db.read(session.lsn) as read:
        scrap = await scrap_of_order(read.conn, order.id)
    context = {
        "order": order,
        "scrap": scrap,
        "alert": alert,
        "errors": errors or {},
        "scrap_form": scrap_form or {},
        "notice": _notice(request),
    }
    return render(request, "detail.html", context, status, session)


async def _order_or_404(request: Request, session: ScreenSession, raw_id: str) -> ProductionOrder:
    order_id = _parse_id(raw_id)
    order = await _load(_res(request), order_id, session) if order_id else None
    if order is None:
        raise PageNotFound(f"There is no order {raw_id} in plant {session.plant}.")
    return order


@router.get("/orders/{order_id}")
async def order_detail(request: Request, order_id: str) -> Response:
    session = _auth(request).require(request)
    order = await _order_or_404(request, session, order_id)
    return await _detail(request, session, order)


def _version(form: dict[str, str]) -> int | None:
    try:
        return int(form.get("version", ""))
    except ValueError:
        return None


async def _confirm(
    request: Request,
    session: ScreenSession,
    order: ProductionOrder,
    question: str,
    action_url: str,
    fields: dict[str, str],
    back: str,
) -> Response:
    context = {
        "order": order,
        "question": question,
        "action_url": action_url,
        "fields": fields,
        "back": back,
    }
    return render(request, "confirm.html", context, 200, session)


async def _changed(
    request: Request,
    session: ScreenSession,
    order: ProductionOrder,
    change: Any,
    location: str,
) -> Response:
    """Run a change; a conflict or a refused transition re-renders the order with the reason."""
    res = _res(request)
    try:
        outcome: Outcome = await change
    except Problem as exc:
        if exc.status != 412:
            raise
        alert, status = CONFLICT, 409
    except IllegalTransition as exc:
        alert, status = f"Not possible: {exc}.", 409
    except (InvalidOrder, UnknownOperation) as exc:
        alert, status = f"Not possible: {exc}.", 422
    else:
        await order_changed(res.cache, outcome)
        return _after_change(request, session, outcome, location)
    current = await _load(res, order.id, session) or order
    return await _detail(request, session, current, alert=alert, status=status)


@router.post("/orders/{order_id}/operations/{seq}/{step}")
async def operation_step(request: Request, order_id: str, seq: int, step: str) -> Response:
    auth = _auth(request)
    session = auth.require(request)
    form = await auth.form(request)
    if not session.is_operator:
        raise Forbidden("Only operators start and complete operations.")
    if step not in {s.value for s in OperationAction}:
        raise PageNotFound(f"There is no step {step}.")
    order = await _order_or_404(request, session, order_id)
    version = _version(form)
    if version is None:
        return await _detail(request, session, order, alert="The form was incomplete.", status=422)
    action = OperationAction(step)
    if form.get("confirm") != "yes":
        description = order.operation(seq).description if 1 <= seq <= len(order.operations) else ""
        question = (
            f"{'Start' if action is OperationAction.START else 'Complete'} operation {seq}"
            f" ({description}) of order {order.order_ref}?"
        )
        return await _confirm(
            request,
            session,
            order,
            question,
            request.url.path,
            {"version": str(version)},
            f"/screens/orders/{order.id}",
        )
    change = use_cases.change_order(
        _res(request).db,
        order.id,
        operation=(seq, action),
        expected_version=version,
        scope=frozenset({session.plant}),
    )
    location = f"/screens/orders/{order.id}?" + urlencode({"done": step, "seq": seq})
    return await _changed(request, session, order, change, location)


@router.post("/orders/{order_id}/scrap")
async def scrap(request: Request, order_id: str) -> Response:
    auth = _auth(request)
    session = auth.require(request)
    form = await auth.form(request)
    if not session.is_operator:
        raise Forbidden("Only operators report scrap.")
    order = await _order_or_404(request, session, order_id)
    fields = {k: form.get(k, "").strip() for k in ("seq", "quantity", "reason")}
    errors = {}
    seq = quantity = 0
    try:
        seq = int(fields["seq"])
        order.operation(seq)
    except (ValueError, UnknownOperation):
        errors["seq"] = "Choose the operation the scrap came from."
    try:
        quantity = int(fields["quantity"])
        if not 1 <= quantity <= order.quantity:
            raise ValueError
    except ValueError:
        errors["quantity"] = f"Enter a whole number from 1 to {order.quantity}."
    if len(fields["reason"]) < 3:
        errors["reason"] = "Describe the reason in at least 3 characters."
    elif len(fields["reason"]) > 200:
        errors["reason"] = "Keep the reason under 200 characters."
    if errors:
        return await _detail(request, session, order, errors=errors, scrap_form=fields, status=422)
    if form.get("confirm") != "yes":
        question = (
            f"Report {quantity} scrapped from operation {seq} of order {order.order_ref}"
            f" ({fields['reason']})?"
        )
        return await _confirm(
            request,
            session,
            order,
            question,
            request.url.path,
            fields,
            f"/screens/orders/{order.id}",
        )
    change = report_scrap(
        _res(request).db,
        order.id,
        seq=seq,
        quantity=quantity,
        reason=fields["reason"],
        reported_by=session.name,
        scope=frozenset({session.plant}),
    )
    location = f"/screens/orders/{order.id}?done=scrap"
    return await _changed(request, session, order, change, location)


@router.post("/orders/{order_id}/priority")
async def reprioritize(request: Request, order_id: str) -> Response:
    auth = _auth(request)
    session = auth.require(request)
    form = await auth.form(request)
    if not session.is_planner:
        raise Forbidden("Only planners change priorities.")
    order = await _order_or_404(request, session, order_id)
    try:
        priority = int(form.get("priority", ""))
    except ValueError:
        priority = 0
    version = _version(form)
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX or version is None:
        alert = f"Choose a priority from {PRIORITY_MIN} to {PRIORITY_MAX}."
        return await _detail(request, session, order, alert=alert, status=422)
    change = use_cases.change_order(
        _res(request).db,
        order.id,
        priority=priority,
        expected_version=version,
        scope=frozenset({session.plant}),
    )
    location = "/screens/board?" + urlencode(
        {"done": "priority", "ref": order.order_ref, "priority": priority}
    )
    return await _changed(request, session, order, change, location)


@router.post("/orders/{order_id}/{action}")
async def planner_action(request: Request, order_id: str, action: str) -> Response:
    auth = _auth(request)
    session = auth.require(request)
    form = await auth.form(request)
    if not session.is_planner:
        raise Forbidden("Only planners release, hold, resume and cancel orders.")
    chosen = next((a for a in PLANNER_ACTIONS if a.value == action), None)
    if chosen is None:
        raise PageNotFound(f"There is no action {action}.")
    order = await _order_or_404(request, session, order_id)
    version = _version(form)
    if version is None:
        return await _detail(request, session, order, alert="The form was incomplete.", status=422)
    if form.get("confirm") != "yes":
        question = f"{PLANNER_ACTIONS[chosen]} order {order.order_ref}?"
        return await _confirm(
            request,
            session,
            order,
            question,
            request.url.path,
            {"version": str(version)},
            "/screens/board",
        )
    change = use_cases.change_order(
        _res(request).db,
        order.id,
        action=chosen,
        expected_version=version,
        scope=frozenset({session.plant}),
    )
    location = "/screens/board?" + urlencode({"done": chosen.value, "ref": order.order_ref})
    return await _changed(request, session, order, change, location)


# --- errors ----------------------------------------------------------------------------------


async def login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/screens/login", status_code=303)


async def forbidden(request: Request, exc: Exception) -> Response:
    session = _auth(request).session(request)
    context = {"title": "Not allowed", "message": str(exc) or "You may not do this."}
    return render(request, "error.html", context, 403, session)


async def page_not_found(request: Request, exc: Exception) -> Response:
    session = _auth(request).session(request)
    return render(request, "error.html", {"title": "Not found", "message": str(exc)}, 404, session)


async def csrf_refused(request: Request, exc: Exception) -> Response:
    session = _auth(request).session(request)
    context = {
        "title": "Form expired",
        "message": (
            "The form expired or did not come from this site. Reload the page and try again."
        ),
    }
    return render(request, "error.html", context, 403, session)


def install_screens(app: Any, secret: str) -> None:
    """The screens' routes, session and CSRF handling, and their error pages."""
    app.state.screen_auth = ScreenAuth(secret)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(PageNotFound, page_not_found)
    app.mount("/screens/static", StaticFiles(directory=STATIC), name="screens-static")
    app.add_middleware(SecurityHeaders, prefix="/screens")
