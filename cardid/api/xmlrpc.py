"""The PaperCut-compatible XML-RPC endpoint (/rpc/api/xmlrpc): the Card/ID subset of that
product's web-services API, same method names, argument order and fault behaviour."""

import inspect
import logging
import xmlrpc.client
from xmlrpc.client import Fault

from defusedxml import DefusedXmlException
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from cardid.access import guard, tokens
from cardid.audit.actor import Actor
from cardid.cards import lookups
from cardid.cards import services as cards
from cardid.cards.errors import NumberTaken
from cardid.cards.models import Card
from cardid.config import options
from cardid.config import services as config
from cardid.directory import selectors as directory
from cardid.directory import services as directory_services
from cardid.directory.models import Group, User
from cardid.errors import CardidError
from cardid.ops.middleware import MESSAGE as away_message
from cardid.sync import services as sync

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000  # bytes; card/ID calls are a few hundred
SLOT_OF = {
    "primary-card-number": "primary",
    "card-number": "primary",
    "secondary-card-number": "secondary",
}
TEXT = {"full-name": "full_name", "email": "email", "department": "department", "office": "office"}
PROPERTIES = [*SLOT_OF, "card-pin", *TEXT, "disabled", "username"]


class Api:
    """The methods, bound to one request (its client address)."""

    def __init__(self, address: str):
        self.address = address

    def _auth(self, token: str, need: str = "write"):
        try:
            self.token = tokens.authenticate(str(token or ""), address=self.address, need=need)
        except tokens.Denied as e:
            raise Fault(401 if e.status == 401 else 403, e.message) from None
        self.actor = Actor(f"token:{self.token.name}", "xmlrpc")

    @staticmethod
    def _user(username: str) -> User:
        try:
            return directory.get_user(str(username))
        except CardidError:
            raise Fault(404, f"User does not exist: {username}") from None

    # -- users ----------------------------------------------------------------------------
    def isUserExists(self, auth, username):  # noqa: N802 - the reference product's names
        self._auth(auth, "read")
        try:
            directory.get_user(str(username))
        except CardidError:
            return False
        return True

    def getUserProperty(self, auth, username, name):  # noqa: N802
        self._auth(auth, "read")
        return self._get(self._user(username), str(name))

    def getUserProperties(self, auth, username, names):  # noqa: N802
        self._auth(auth, "read")
        user = self._user(username)
        return [self._get(user, str(n)) for n in names]

    def setUserProperty(self, auth, username, name, value):  # noqa: N802
        return self.setUserProperties(auth, username, [[name, value]])

    def setUserProperties(self, auth, username, pairs):  # noqa: N802
        """All the pairs as one change: a swap of both numbers in one call is fine."""
        self._auth(auth, "write")
        user = self._user(username)
        numbers, fields, pin, enabled = {}, {}, None, None
        for pair in pairs:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise Fault(400, "each property is a [name, value] pair")
            name, value = str(pair[0]), "" if pair[1] is None else str(pair[1])
            if name in SLOT_OF:
                numbers[SLOT_OF[name]] = value.strip() or None
            elif name in TEXT:
                fields[TEXT[name]] = value
            elif name == "card-pin":
                pin = value
            elif name == "disabled":
                enabled = value.strip().lower() not in ("true", "y", "yes", "1")
            else:
                raise Fault(
                    400,
                    f"unknown or read-only property {name!r}; properties: " + ", ".join(PROPERTIES),
                )
        try:
            with transaction.atomic():
                if numbers:
                    cards.change_numbers(
                        user=user, changes=numbers, actor=self.actor, move_within_user=True
                    )
                if pin is not None:
                    cards.set_pin(username=user.username, pin=pin, actor=self.actor)
                if fields or enabled is not None:
                    directory_services.update_user(
                        user=user, actor=self.actor, enabled=enabled, **fields
                    )
        except NumberTaken as e:
            # The reference product's words, which scripts look for.
            raise Fault(400, f"The card number is not unique: {e}") from None
        except CardidError as e:
            raise Fault(400, str(e)) from None
        return True

    def _get(self, user: User, name: str) -> str:
        if name in SLOT_OF:
            return (
                Card.objects.filter(user=user, slot=SLOT_OF[name])
                .values_list("number", flat=True)
                .first()
                or ""
            )
        if name in TEXT:
            return getattr(user, TEXT[name])
        if name == "disabled":
            return "false" if user.enabled else "true"
        if name == "username":
            return user.username
        if name == "card-pin":
            raise Fault(400, "card-pin is stored hashed and cannot be read; set it instead")
        raise Fault(400, f"unknown property {name!r}; properties: " + ", ".join(PROPERTIES))

    def addNewUser(self, auth, username):  # noqa: N802
        self._auth(auth, "write")
        try:
            directory_services.add_user(username=str(username), actor=self.actor)
        except CardidError as e:
            raise Fault(400, str(e)) from None
        return True

    def getTotalUsers(self, auth):  # noqa: N802
        self._auth(auth, "read")
        return User.objects.count()

    def listUserAccounts(self, auth, offset, limit):  # noqa: N802
        self._auth(auth, "read")
        return self._page(
            User.objects.order_by("username_key", "id").values_list("username", flat=True),
            offset,
            limit,
        )

    def listUserGroups(self, auth, offset, limit):  # noqa: N802
        self._auth(auth, "read")
        return self._page(
            Group.objects.order_by("name_key").values_list("name", flat=True), offset, limit
        )

    def getUserGroups(self, auth, username):  # noqa: N802
        self._auth(auth, "read")
        return list(self._user(username).groups.order_by("name_key").values_list("name", flat=True))

    def getGroupMembers(self, auth, group, offset, limit):  # noqa: N802
        self._auth(auth, "read")
        try:
            g = directory.get_group(str(group))
        except CardidError:
            raise Fault(404, f"Group does not exist: {group}") from None
        return self._page(
            User.objects.filter(membership__group=g)
            .order_by("username_key")
            .values_list("username", flat=True),
            offset,
            limit,
        )

    @staticmethod
    def _page(qs, offset, limit) -> list:
        if not isinstance(offset, int) or not isinstance(limit, int) or offset < 0 or limit < 1:
            raise Fault(400, "offset must be 0 or more and limit 1 or more")
        return list(qs[offset : offset + min(limit, 10_000)])

    # -- look-up --------------------------------------------------------------------------
    def lookUpUserNameByCardNo(self, auth, number):  # noqa: N802
        """Either slot; "" when nobody holds the number (not a fault)."""
        self._auth(auth, "lookup")
        try:
            user = lookups.lookup(
                client=tokens.client(self.token), number=str(number), chain=self.token.rule_chain
            )
        except guard.Locked as e:
            raise Fault(429, str(e)) from None
        except CardidError as e:  # the terminal's conversion rule cannot take the value
            raise Fault(400, str(e)) from None
        return user.username if user else ""

    lookUpUserNameByIDNo = lookUpUserNameByCardNo  # noqa: N815

    # -- sync and configuration -----------------------------------------------------------
    def performUserAndGroupSync(self, auth):  # noqa: N802
        self._auth(auth, "write")
        try:
            sync.start(actor=self.actor)
        except CardidError as e:
            raise Fault(400, str(e)) from None
        return True

    def getConfigValue(self, auth, key):  # noqa: N802
        self._auth(auth, "read")
        key = str(key)
        if key == "user-source.update-user-details-card-id":
            # Custom sync programs print the long record (with card numbers) when "Y".
            return "Y" if config.get("sync.import-card-numbers") else "N"
        try:
            opt = options.get(key)
        except options.OptionError:  # an unknown key reads as empty, as in the reference
            return ""
        return opt.display(config.get(key))


METHODS = [
    "isUserExists",
    "getUserProperty",
    "getUserProperties",
    "setUserProperty",
    "setUserProperties",
    "addNewUser",
    "getTotalUsers",
    "listUserAccounts",
    "listUserGroups",
    "getUserGroups",
    "getGroupMembers",
    "lookUpUserNameByCardNo",
    "lookUpUserNameByIDNo",
    "performUserAndGroupSync",
    "getConfigValue",
]


def _arguments(name: str) -> tuple[list[str], int]:
    """A method's argument names, and how many of them a call must give."""
    given = list(inspect.signature(getattr(Api, name)).parameters.values())[1:]  # not self
    return [p.name for p in given], sum(p.default is inspect.Parameter.empty for p in given)


ARGUMENTS = {name: _arguments(name) for name in METHODS}


@csrf_exempt
def endpoint(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY + 1
    if length > MAX_BODY:
        return HttpResponse("request body too large\n", status=413, content_type="text/plain")
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return HttpResponse("request body too large\n", status=413, content_type="text/plain")
    try:
        answer = dispatch(Api(request.META.get("REMOTE_ADDR", "")), body)
    except (OperationalError, InterfaceError):
        close_old_connections()
        answer = unreachable()
    return HttpResponse(
        answer,
        content_type="text/xml; charset=utf-8",
        headers={"Content-Length": str(len(answer))},  # answered before CommonMiddleware
    )


def dispatch(api: Api, body: bytes) -> bytes:
    """One XML-RPC call: parse (defused), check the arguments, run, marshal the answer."""
    try:
        params, method = xmlrpc.client.loads(body)
    except DefusedXmlException:
        return _fault(400, "XML entities and DTDs are not allowed")
    except Exception:  # noqa: BLE001 - any parse failure is the client's malformed XML
        return _fault(400, "the request is not a valid XML-RPC call")
    name = (method or "").removeprefix("api.")
    if not method or not method.startswith("api.") or name not in METHODS:
        return _fault(404, f"unknown method {method!r}")
    func = getattr(api, name)
    args, required = ARGUMENTS[name]
    if not required <= len(params) <= len(args):
        return _fault(400, f"{method} takes ({', '.join(args)})")
    try:
        result = func(*params)
    except Fault as fault:
        return xmlrpc.client.dumps(fault, methodresponse=True).encode()
    except (OperationalError, InterfaceError):
        raise  # the door answers it (and may try once more on a fresh connection)
    except Exception:  # noqa: BLE001 - a bug: logged whole, answered generically
        log.exception("XML-RPC %s failed", method)
        return _fault(500, "internal error; the administrator can find it in the server log")
    return xmlrpc.client.dumps(
        (result,), methodresponse=True, allow_none=False, encoding="utf-8"
    ).encode()


def unreachable() -> bytes:
    """The fault while the database is away (what HTTP clients get as a 503)."""
    return _fault(503, away_message)


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(Fault(code, message), methodresponse=True).encode()
