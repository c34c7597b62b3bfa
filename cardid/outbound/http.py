"""One POST to a webhook receiver (urllib3): to the address that was checked, with the
certificate checked against the URL's host name, no redirects, a time-out."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import urllib3
from urllib3 import exceptions as ux

from cardid import destinations

SENT, RETRY, FAILED = "sent", "retry", "failed"


@dataclass(frozen=True)
class Answer:
    kind: str  # SENT | RETRY (the receiver may take it later) | FAILED (it never will)
    code: int | None
    words: str  # what happened, for the delivery log


class Receiver:
    """Connections to one webhook's receiver, kept open across one batch."""

    def __init__(self, url: str, allowed: destinations.Allowed, *, ca_file: str, timeout: int):
        self.target = destinations.parse_url(url)
        self.allowed = allowed
        self.ca_file = ca_file or None
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._pool: urllib3.HTTPConnectionPool | None = None

    def _open(self) -> urllib3.HTTPConnectionPool:
        """A pool on the first of the host's allowed addresses that takes a connection."""
        t = self.target
        failure: Exception | None = None
        for address in destinations.usable(t, destinations.resolve(t), self.allowed):
            pool = self._pool_for(str(address))
            conn = pool._get_conn()
            try:
                conn.connect()
            except (ux.HTTPError, OSError) as e:
                conn.close()
                pool.close()
                failure = e
                continue
            pool._put_conn(conn)
            return pool
        raise failure  # type: ignore[misc]

    def _pool_for(self, address: str) -> urllib3.HTTPConnectionPool:
        t = self.target
        if t.scheme == "https":
            return urllib3.HTTPSConnectionPool(
                address,
                t.port,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_file,
                server_hostname=t.host,
                assert_hostname=t.host,
                timeout=self.timeout,
                retries=False,
            )
        return urllib3.HTTPConnectionPool(
            address, t.port, maxsize=1, timeout=self.timeout, retries=False
        )

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            if self._pool is None:
                self._pool = self._open()
            r = self._pool.urlopen(
                "POST",
                self.target.path,
                body=body,
                headers={
                    "Host": self.target.host_header,
                    "Content-Type": "application/json",
                    "User-Agent": "cardid-webhooks",
                    **headers,
                },
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except destinations.Refused as e:
            return Answer(FAILED, None, str(e))
        except LookupError as e:
            return Answer(RETRY, None, str(e))
        except (ux.SSLError, ssl.SSLError) as e:
            self.close()
            return Answer(
                RETRY,
                None,
                f"the receiver's certificate was not accepted ({_reason(e)}); give its CA in "
                "Webhooks › Delivery › CA certificate file (webhooks.ca-file)",
            )
        except (ux.TimeoutError, ux.ProtocolError, ux.NewConnectionError, OSError) as e:
            self.close()
            return Answer(RETRY, None, f"{self.target.host_header} did not answer: {_reason(e)}")
        except ux.HTTPError as e:
            self.close()
            return Answer(RETRY, None, f"{self.target.host_header}: {_reason(e)}")
        try:
            # The answer's first words are kept; a receiver cannot make cardid read more.
            text = r.read(1024, decode_content=False)[:200].decode("utf-8", "replace").strip()
        except (ux.HTTPError, OSError):
            text = ""
        if r.length_remaining == 0:
            r.release_conn()
        else:
            self.close()
        said = f"{r.status} {text}".strip()
        if 200 <= r.status < 300:
            return Answer(SENT, r.status, said)
        if 300 <= r.status < 400:
            where = r.headers.get("Location", "")[:200]
            return Answer(
                FAILED,
                r.status,
                f"the receiver redirected to {where or 'another address'}; webhooks follow no "
                "redirects: add the final URL as the webhook",
            )
        if r.status in (408, 425, 429) or r.status >= 500:
            return Answer(RETRY, r.status, said)
        return Answer(FAILED, r.status, said)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _reason(e: Exception) -> str:
    inner = getattr(e, "reason", None) or e
    text = str(inner)
    if "timed out" in text.lower() or isinstance(inner, ux.TimeoutError):
        return "no answer within the time-out"
    if "refused" in text.lower():
        return "connection refused (is the receiver running?)"
    return text[:200] or type(inner).__name__


def reachable(url: str, allowed: destinations.Allowed, *, ca_file: str, timeout: int) -> str:
    """ "" when a connection to the receiver opens (TLS included), else why not."""
    try:
        Receiver(url, allowed, ca_file=ca_file, timeout=timeout)._open().close()
    except LookupError as e:
        return str(e)
    except (ux.SSLError, ssl.SSLError) as e:
        return f"its certificate was not accepted ({_reason(e)})"
    except (ux.HTTPError, OSError) as e:
        return f"it did not answer: {_reason(e)}"
    return ""
