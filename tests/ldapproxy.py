"""An LDAP proxy that hands out large multi-valued attributes in ranges, as Active
Directory does (MaxValRange): a search result whose attribute has more than `max_values`
values carries `attr;range=0-(max-1)` instead, and a request for `attr;range=N-*` (or
`N-M`) gets that slice. It sits between the tests and a real directory (Samba 4.17, which
returns such attributes whole), decoding and re-encoding LDAP messages with ldap3's own
ASN.1 definitions."""

import socket
import threading

import ldap3
from ldap3.protocol.rfc4511 import LDAPMessage
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error

from tests.conftest import free_port


def _frame(buffer: bytes) -> int:
    """The length of the first whole BER element in `buffer`, or 0 if it is not all there."""
    if len(buffer) < 2:
        return 0
    first = buffer[1]
    if first < 0x80:
        size, head = first, 2
    else:
        count = first & 0x7F
        if len(buffer) < 2 + count:
            return 0
        size, head = int.from_bytes(buffer[2 : 2 + count], "big"), 2 + count
    return head + size if len(buffer) >= head + size else 0


class RangingProxy:
    def __init__(self, upstream_url: str, max_values: int = 1500):
        host, _, port = upstream_url.removeprefix("ldap://").partition(":")
        self.upstream = (host, int(port or 389))
        self.max = max_values
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.range_requests = 0
        self._wanted: dict[int, tuple[str, int]] = {}  # message id -> (attribute, first)
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._closed = False

    def __enter__(self) -> "RangingProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed = True
        self._sock.close()

    def first_answer(self, user: str, password: str, base: str, flt: str) -> dict[str, int]:
        """What a client asking for `member` plainly gets: {attribute: number of values}."""
        conn = ldap3.Connection(
            ldap3.Server(self.url), user, password, auto_bind=True, auto_range=False
        )
        conn.search(base, flt, attributes=["member"])
        raw = conn.response[0]["raw_attributes"]
        conn.unbind()
        return {k: len(v) for k, v in raw.items() if v}

    # -- plumbing -------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(
                target=self._pump, args=(client, server, self._request), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, self._answer), daemon=True
            ).start()

    def _pump(self, source, sink, rewrite) -> None:
        buffer = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                buffer += data
                while size := _frame(buffer):
                    element, buffer = buffer[:size], buffer[size:]
                    sink.sendall(rewrite(element))
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _decode(self, element: bytes):
        try:
            message, _ = decoder.decode(element, asn1Spec=LDAPMessage())
            return message
        except (PyAsn1Error, ValueError, TypeError):  # not ours to change: pass it on
            return None

    def _request(self, element: bytes) -> bytes:
        message = self._decode(element)
        if message is None or message["protocolOp"].getName() != "searchRequest":
            return element
        search = message["protocolOp"]["searchRequest"]
        attributes = [str(a) for a in search["attributes"]]
        ranged = [a for a in attributes if ";range=" in a.lower()]
        if not ranged:
            return element
        name, _, span = ranged[0].partition(";")
        first = int(span.split("=", 1)[1].split("-", 1)[0])
        with self._lock:
            self._wanted[int(message["messageID"])] = (name, first)
            self.range_requests += 1
        for i, a in enumerate(attributes):
            if a == ranged[0]:
                search["attributes"][i] = name
        return encoder.encode(message)

    def _answer(self, element: bytes) -> bytes:
        message = self._decode(element)
        if message is None or message["protocolOp"].getName() != "searchResEntry":
            return element
        entry = message["protocolOp"]["searchResEntry"]
        with self._lock:
            wanted = self._wanted.get(int(message["messageID"]))
        changed = False
        for attribute in entry["attributes"]:
            name, values = str(attribute["type"]), list(attribute["vals"])
            if wanted and name.lower() == wanted[0].lower():
                first = wanted[1]
            elif len(values) > self.max:
                first = 0
            else:
                continue
            part = values[first : first + self.max]
            last = "*" if first + self.max >= len(values) else str(first + self.max - 1)
            attribute["type"] = f"{name};range={first}-{last}"
            attribute["vals"].clear()
            for v in part:
                attribute["vals"].append(v)
            changed = True
        return encoder.encode(message) if changed else element
