"""The REST API under /api/v1/ (django-ninja): thin handlers over the services."""

import json
from typing import Literal

from django.db import OperationalError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import Field, NinjaAPI, Query, Schema
from ninja.openapi.docs import Swagger
from ninja.security import HttpBearer

from cardid.access import guard, tokens
from cardid.access.models import ApiToken
from cardid.audit.actor import Actor
from cardid.cards import batches, conversion, generation, lookups, registration, rules
from cardid.cards import jobs as card_jobs
from cardid.cards import services as cards
from cardid.cards.errors import GenerationRefused
from cardid.cards.models import Card, ConversionRule
from cardid.config import services as config
from cardid.directory import selectors as directory
from cardid.directory.models import User
from cardid.errors import CardidError, Conflict, Invalid, NotFound, Refused, TooLarge
from cardid.jobs.models import Job
from cardid.sync import services as sync


class OwnSwagger(Swagger):
    """The docs page with django-ninja's own Swagger UI files, served by cardid (nothing from
    a CDN). ninja picks its CDN page unless it is an installed app; cardid finds its
    templates and static files by place instead (settings.NINJA), so that no process imports
    ninja and pydantic before it serves the API."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api}
        return render(request, self.template, context)


api = NinjaAPI(
    title="cardid",
    version="1",
    urls_namespace="api-v1",
    description="Card/ID numbers: users, numbers, generation, look-up, sync.",
    docs=OwnSwagger(),
)


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


class TokenAuth(HttpBearer):
    def __init__(self, need: str):
        super().__init__()
        self.need = need

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else ""
        return self.authenticate(request, key)

    def authenticate(self, request, token: str) -> ApiToken:
        return tokens.authenticate(token, address=client_address(request), need=self.need)


READ, LOOKUP, WRITE = TokenAuth("read"), TokenAuth("lookup"), TokenAuth("write")


def actor(request) -> Actor:
    return Actor(f"token:{request.auth.name}", "api")


@api.exception_handler(tokens.Denied)
def denied(request, exc: tokens.Denied):
    return api.create_response(request, {"detail": exc.message}, status=exc.status)


# Each refusal's HTTP status, by its type (the most specific first).
STATUS = [
    (guard.Locked, 429),
    (NotFound, 404),
    (Conflict, 409),
    (Refused, 409),
    (TooLarge, 422),
    (CardidError, 400),
]


@api.exception_handler(OperationalError)
def database_away(request, exc: OperationalError):
    response = api.create_response(
        request, {"detail": "the database is unreachable at the moment; try again soon"}, status=503
    )
    response["Retry-After"] = "5"
    return response


@api.exception_handler(CardidError)
def domain_error(request, exc: CardidError):
    detail = str(exc)
    if isinstance(exc, TooLarge):  # 422 has one shape here: a list, as validation errors
        detail = [{"loc": ["body", exc.field or ""], "msg": detail, "type": "too_large"}]
    response = api.create_response(request, {"detail": detail}, status=status_of(exc))
    if isinstance(exc, guard.Locked):
        response["Retry-After"] = str(exc.retry_after)
    return response


def status_of(exc: CardidError) -> int:
    return next(code for kind, code in STATUS if isinstance(exc, kind))


# -- schemas ----------------------------------------------------------------------------------


Slot = Literal["primary", "secondary"]


class Error(Schema):
    detail: str


class ValidationErrors(Schema):
    detail: list[dict]


# Every endpoint may answer these: no/bad token, wrong scope or address, malformed input.
COMMON = {401: Error, 403: Error, 422: ValidationErrors}


def responses(ok, *errors: int, ok_status: int = 200) -> dict:
    return {ok_status: ok, **{code: Error for code in errors}, **COMMON}


class UserOut(Schema):
    username: str
    full_name: str
    email: str
    department: str
    office: str
    enabled: bool
    source: str


class NumbersOut(Schema):
    primary: str | None
    secondary: str | None


class NumberIn(Schema):
    number: str


class GenerateIn(Schema):
    replace: bool = False
    notify: bool | None = None
    dry_run: bool = False


class GroupGenerateIn(Schema):
    slot: Slot = "primary"
    replace: bool = False
    notify: bool | None = None
    dry_run: bool = False


class PlanOut(Schema):
    """What a generation does (or, with dry_run, would do) on the data as it is now."""

    users: int
    issued: int
    skipped: int
    failed: int
    notifications: int
    without_email: int
    refused: str | None


class GeneratedOut(PlanOut):
    number: str | None


class JobOut(Schema):
    id: int
    kind: str
    status: str
    description: str
    total: int
    done: int
    counts: dict
    messages: list[str]
    error: str


class LookupIn(Schema):
    number: str
    pin: str | None = None


class LookupOut(Schema):
    username: str
    full_name: str


def user_out(u: User) -> dict:
    return {
        f: getattr(u, f)
        for f in ("username", "full_name", "email", "department", "office", "enabled", "source")
    }


def job_out(j: Job) -> dict:
    return {
        "id": j.pk,
        "kind": j.kind,
        "status": j.status,
        "description": j.description,
        "total": j.total,
        "done": j.done,
        "counts": j.counts,
        "messages": j.messages,
        "error": j.error,
    }


def _slot(slot: str) -> str:
    if slot not in ("primary", "secondary"):
        raise Invalid(f"unknown slot {slot!r}; use primary or secondary")
    return slot


# -- users and numbers ------------------------------------------------------------------------


@api.get("/users", response=responses(list[UserOut], 400, 404), auth=READ, tags=["users"])
def list_users(
    request,
    search: str = "",
    group: str = "",
    offset: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
):
    """Users ordered by username; `search` matches username or full name."""
    users = directory.list_users(group=group or None, search=search)
    return [user_out(u) for u in users.prefetch_related(None)[offset : offset + limit]]


@api.get("/users/{username}", response=responses(UserOut, 404), auth=READ, tags=["users"])
def get_user(request, username: str):
    return user_out(directory.get_user(username))


@api.get(
    "/users/{username}/numbers", response=responses(NumbersOut, 404), auth=READ, tags=["numbers"]
)
def get_numbers(request, username: str):
    held = dict(
        Card.objects.filter(user=directory.get_user(username)).values_list("slot", "number")
    )
    return {"primary": held.get("primary"), "secondary": held.get("secondary")}


@api.put(
    "/users/{username}/numbers/{slot}",
    response=responses(NumbersOut, 400, 404, 409),
    auth=WRITE,
    tags=["numbers"],
)
def set_number(request, username: str, slot: Slot, body: NumberIn):
    cards.set_number(username=username, number=body.number, slot=_slot(slot), actor=actor(request))
    return get_numbers(request, username)


@api.delete(
    "/users/{username}/numbers/{slot}",
    response=responses(NumbersOut, 400, 404),
    auth=WRITE,
    tags=["numbers"],
)
def clear_number(request, username: str, slot: Slot):
    cards.clear_number(username=username, slot=_slot(slot), actor=actor(request))
    return get_numbers(request, username)


@api.post(
    "/users/{username}/numbers/{slot}/generate",
    response=responses(GeneratedOut, 400, 404, 409),
    auth=WRITE,
    tags=["numbers"],
)
def generate_for_user(request, username: str, slot: Slot, body: GenerateIn):
    """A new random number for one user; with dry_run, what would happen (no number)."""
    user = directory.get_user(username)
    plan = generation.plan(
        selection=generation.Selection(usernames=(user.username,)),
        slot=_slot(slot),
        replace=body.replace,
        notify=body.notify,
    )
    if body.dry_run:
        return {**plan.figures(), "number": None}
    if plan.refused:
        raise GenerationRefused(plan.refused)
    result = generation.apply(plan, actor=actor(request))
    number = Card.objects.filter(user=user, slot=slot).values_list("number", flat=True).first()
    return {**result.figures(), "number": number}


@api.post(
    "/groups/{group}/generate",
    response={**responses(PlanOut, 400, 404, 409), 202: JobOut},
    auth=WRITE,
    tags=["numbers"],
)
def generate_for_group(request, group: str, body: GroupGenerateIn):
    """Starts a background job (202); poll /jobs/{id} for its progress. With dry_run, the
    plan the job would carry out (200). A plan the policy refuses is refused here (409),
    before any job starts."""
    target, _ = batches.resolve(kind="group", group=group)
    plan = batches.review(
        target=target, slot=_slot(body.slot), replace=body.replace, notify=body.notify
    )
    if body.dry_run:
        return 200, plan.figures()
    if plan.refused:
        raise GenerationRefused(plan.refused)
    job = batches.generate(
        target=target,
        slot=body.slot,
        replace=body.replace,
        notify=body.notify,
        actor=actor(request),
    )
    return 202, job_out(job)


@api.get("/jobs/{job_id}", response=responses(JobOut, 404), auth=READ, tags=["jobs"])
def get_job(request, job_id: int):
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job_out(job)


@api.post("/sync", response=responses(JobOut, 400, 409, ok_status=202), auth=WRITE, tags=["sync"])
def sync_now(request, dry_run: bool = False):
    """Starts a user/group sync as a background job; with dry_run, a job that plans the
    sync and changes nothing (its counts say what the sync would do)."""
    return 202, job_out(sync.start(actor=actor(request), dry_run=dry_run))


# -- terminals ---------------------------------------------------------------------------------


NO_HOLDER = "no user holds that number (or the PIN is wrong)"


@api.post("/lookup", response=responses(LookupOut, 400, 404, 429), auth=LOOKUP, tags=["lookup"])
def lookup(request, body: LookupIn):
    """The user holding a number (either slot), checked against the PIN when one is given.
    An unknown number and a wrong PIN get the same 404. (On a server, a well-formed call is
    answered before Django's request handling, by cardid.api.terminals, the same way.)"""
    return look_up(request.auth, body.number, body.pin)


def look_up(token: ApiToken, number: str, pin: str | None) -> tuple[int, dict]:
    user = lookups.lookup(
        client=tokens.client(token), number=number, pin=pin, chain=token.rule_chain
    )
    if user is None:
        return 404, {"detail": NO_HOLDER}
    return 200, {"username": user.username, "full_name": user.full_name}


class RegistrationIn(Schema):
    reader_value: str
    username: str = ""
    password: str = ""
    code: str = ""


class RegistrationOut(Schema):
    username: str
    slot: str


@api.post(
    "/self-registration",
    response=responses(RegistrationOut, 400, 409, 429),
    auth=LOOKUP,
    tags=["lookup"],
)
def self_registration(request, body: RegistrationIn):
    """A terminal registers the card it just read for the user who proved who they are
    (directory or local password, or a one-time code). Every refusal has the same answer."""
    try:
        user = registration.register(
            client=tokens.client(request.auth),
            reader_value=body.reader_value,
            chain=request.auth.rule_chain,
            username=body.username,
            password=body.password,
            code=body.code,
            actor_name=f"token:{request.auth.name}",
        )
    except registration.RegistrationRefused as e:
        return 403, {"detail": str(e)}
    return {"username": user.username, "slot": config.get("cards.self-registration")}


# -- card readers and printing -----------------------------------------------------------------


class RuleOut(Schema):
    name: str
    chain: str


class RuleIn(Schema):
    chain: str = Field(max_length=500)


class ConvertIn(Schema):
    value: str = Field(max_length=1000)
    rule: str = Field("", max_length=100)
    chain: str = Field("", max_length=500)


class ConvertOut(Schema):
    value: str


class DeriveIn(Schema):
    pairs: list[tuple[str, str]] = Field(max_length=conversion.MAX_PAIRS)


class DeriveOut(Schema):
    chain: str | None
    near_misses: list[str]


class PrintIn(Schema):
    usernames: list[str] = []
    group: str = ""
    slot: Slot = "primary"
    paper: Literal["a4", "letter"] = "a4"
    qr: bool = False


@api.get("/rules", response=responses(list[RuleOut]), auth=READ, tags=["card readers"])
def list_rules(request):
    return [{"name": r.name, "chain": r.chain} for r in ConversionRule.objects.order_by("name")]


# Fixed paths before /rules/{name}: the first pattern that matches a path wins.
@api.post(
    "/rules/convert", response=responses(ConvertOut, 400, 404), auth=READ, tags=["card readers"]
)
def convert(request, body: ConvertIn):
    """A reader value through a named rule or a chain of steps (nothing is stored)."""
    if bool(body.rule) == bool(body.chain):
        raise Invalid("give a rule's name or a chain of steps, not both")
    return {"value": rules.convert(body.value, rule=body.rule or None, chain=body.chain or None)}


@api.post("/rules/derive", response=responses(DeriveOut, 400), auth=READ, tags=["card readers"])
def derive(request, body: DeriveIn):
    """The shortest chain that maps every (reader value, card number) pair; `chain` is null
    and `near_misses` say which pair breaks the closest chains when none does."""
    text = "\n".join(f"{a},{b}" for a, b in body.pairs)
    result = rules.derive(text, source="pairs")
    return {"chain": result.chain, "near_misses": result.near_misses}


@api.put("/rules/convert", response=responses(RuleOut, 400), auth=WRITE, include_in_schema=False)
@api.put("/rules/derive", response=responses(RuleOut, 400), auth=WRITE, include_in_schema=False)
def set_reserved_rule(request, body: RuleIn):
    """`convert` and `derive` are actions, never rule names: refused in words."""
    rules.set_rule(name=request.path.rsplit("/", 1)[-1], chain=body.chain, actor=actor(request))


@api.delete("/rules/convert", response=responses(None, 404), auth=WRITE, include_in_schema=False)
@api.delete("/rules/derive", response=responses(None, 404), auth=WRITE, include_in_schema=False)
def delete_reserved_rule(request):
    rules.delete_rule(name=request.path.rsplit("/", 1)[-1], actor=actor(request))


@api.put("/rules/{name}", response=responses(RuleOut, 400), auth=WRITE, tags=["card readers"])
def set_rule(request, name: str, body: RuleIn):
    rule = rules.set_rule(name=name, chain=body.chain, actor=actor(request))
    return {"name": rule.name, "chain": rule.chain}


@api.delete(
    "/rules/{name}",
    response=responses(None, 400, 404, ok_status=204),
    auth=WRITE,
    tags=["card readers"],
)
def delete_rule(request, name: str):
    rules.delete_rule(name=name, actor=actor(request))
    return 204, None


@api.post(
    "/cards/print",
    response=responses(JobOut, 400, 404, ok_status=202),
    auth=WRITE,
    tags=["card readers"],
)
def print_cards(request, body: PrintIn):
    """Starts a print job; when it has succeeded, GET /jobs/{id}/pdf gives the PDF."""
    if bool(body.usernames) == bool(body.group):
        raise Invalid("give usernames or a group, not both")
    target, _ = batches.resolve(
        kind="group" if body.group else "users",
        group=body.group,
        usernames="\n".join(body.usernames),
    )
    job = batches.print_cards(
        target=target, slot=body.slot, paper=body.paper, with_qr=body.qr, actor=actor(request)
    )
    return 202, job_out(job)


@api.get("/jobs/{job_id}/pdf", auth=READ, tags=["jobs"], response=responses(None, 404))
def job_pdf(request, job_id: int):
    """The PDF of a finished print job (kept for a day)."""
    job = Job.objects.filter(pk=job_id, kind="print", status=Job.Status.SUCCEEDED).first()
    path = card_jobs.print_path(job_id)
    if job is None or not path.exists():
        raise NotFound(f"no finished print job {job_id} with a PDF (PDFs are kept for a day)")
    return FileResponse(
        path.open("rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"cardid-cards-{job_id}.pdf",
    )
