"""RFC 9421 HTTP message signatures with Ed25519, and RFC 9530 ``Content-Digest``.

Every call from one node to another is signed with the calling node's key, so the receiver
knows which member asks without a shared secret or a token. The profile (protocol §14):

- the signature is labelled ``sig1`` and covers ``@method``, ``@target-uri`` and, whenever
  the request has content, ``content-digest`` (``sha-256``, checked against the bytes);
- its parameters are ``created``, ``expires`` (after ``created``, by at most
  `MAX_LIFETIME_S`), a ``nonce``, ``keyid`` (the calling member's log origin) and
  ``alg="ed25519"``;
- a request dated more than `CLOCK_SKEW_S` in the future, or presented more than that after
  it expired, is refused: nodes' clocks differ a little, never by minutes.

The general machinery (structured fields, component values, the signature base) follows
the RFC closely enough to reproduce its own Ed25519 example byte for byte; the profile is
checked on top of it by `verify_request`. Verification fails closed: anything it does not
understand is a `SignatureError` with the reason, never a pass. Whether a nonce was seen
before is the caller's to check (`consortium.federation.nonces`), after the signature.

``http-message-signatures`` (on the package index) was considered: it needs ``cryptography``
beside the PyNaCl the node already uses, works on ``requests`` objects, and leaves
``Content-Digest``, expiry and nonces to the caller, which is most of this profile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Union
from urllib.parse import urlsplit, urlunsplit

from consortium.crypto.keys import NodeKey, verify_signature

LABEL = "sig1"
ALGORITHM = "ed25519"
MAX_LIFETIME_S = 300
CLOCK_SKEW_S = 60
DEFAULT_LIFETIME_S = 60
NONCE_BYTES = 24
MAX_NONCE_LENGTH = 128
MAX_KEYID_LENGTH = 255
REQUIRED = ("@method", "@target-uri")
DIGEST = "content-digest"
PROFILE_PARAMETERS = ("created", "expires", "nonce", "keyid", "alg")


class SignatureError(Exception):
    """A signature or digest that does not verify, or a request that breaks the profile;
    the message says which, for the refusal the caller sends back."""


# --- structured field values (RFC 8941), the part signatures use -------------------------------


@dataclass(frozen=True)
class Token:
    """An RFC 8941 token (a bare word), distinct from a string."""

    value: str


Bare = Union[int, float, str, bytes, bool, Token]  # noqa: UP007 (a runtime alias)
Params = dict[str, Bare]


@dataclass(frozen=True)
class Item:
    value: Bare
    params: Params


@dataclass(frozen=True)
class InnerList:
    items: tuple[Item, ...]
    params: Params


_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class _Parser:
    """RFC 8941 section 4.2 parsing of a Dictionary; raises SignatureError on anything else."""

    def __init__(self, text: str, field: str) -> None:
        self.text, self.pos, self.field = text, 0, field

    def fail(self, what: str) -> SignatureError:
        return SignatureError(f"{self.field} is not a valid structured field: {what}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, spaces: str) -> None:
        while self.peek() and self.peek() in spaces:
            self.pos += 1

    def key(self) -> str:
        found = _KEY.match(self.text, self.pos)
        if found is None:
            raise self.fail(f"expected a key at position {self.pos}")
        self.pos = found.end()
        return found.group()

    def bare(self) -> Bare:
        char = self.peek()
        if char == '"':
            return self.string()
        if char == ":":
            found = _BYTES.match(self.text, self.pos)
            if found is None:
                raise self.fail("unterminated byte sequence")
            self.pos = found.end()
            try:
                return base64.b64decode(found.group(1), validate=True)
            except binascii.Error as exc:
                raise self.fail("a byte sequence is not base64") from exc
        if char == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in ("0", "1"):
                raise self.fail("a boolean must be ?0 or ?1")
            self.pos += 2
            return value == "1"
        found = _NUMBER.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
            number = found.group()
            if "." in number:
                return float(number)
            if len(number.lstrip("-")) > 15:
                raise self.fail("an integer has more than 15 digits")
            return int(number)
        found = _TOKEN.match(self.text, self.pos)
        if found is None:
            raise self.fail(f"unexpected character at position {self.pos}")
        self.pos = found.end()
        return Token(found.group())

    def string(self) -> str:
        self.pos += 1
        out = []
        while True:
            char = self.peek()
            if not char:
                raise self.fail("unterminated string")
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise self.fail("bad escape in a string")
                self.pos += 1
                out.append(escaped)
            elif " " <= char <= "~":
                out.append(char)
            else:
                raise self.fail("a string holds a character that is not printable ASCII")

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            name = self.key()
            value: Bare = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare()
            if name in params:
                raise self.fail(f"parameter {name!r} appears twice")
            params[name] = value
        return params

    def member(self) -> Item | InnerList:
        if self.peek() == "(":
            self.pos += 1
            items = []
            while True:
                self.skip(" ")
                if self.peek() == ")":
                    self.pos += 1
                    return InnerList(tuple(items), self.params())
                items.append(Item(self.bare(), self.params()))
                if self.peek() not in (" ", ")"):
                    raise self.fail("items of an inner list must be separated by spaces")
        return Item(self.bare(), self.params())

    def dictionary(self) -> dict[str, Item | InnerList]:
        members: dict[str, Item | InnerList] = {}
        self.skip(" ")
        while self.peek():
            name = self.key()
            if self.peek() == "=":
                self.pos += 1
                value = self.member()
            else:
                value = Item(True, self.params())
            if name in members:
                # RFC 8941 keeps the last; a signature named twice is ambiguous, so refuse.
                raise self.fail(f"{name!r} appears twice")
            members[name] = value
            self.skip(" \t")
            if not self.peek():
                break
            if self.peek() != ",":
                raise self.fail(f"expected a comma at position {self.pos}")
            self.pos += 1
            self.skip(" \t")
            if not self.peek():
                raise self.fail("a trailing comma")
        return members


def parse_dictionary(text: str, field: str) -> dict[str, Item | InnerList]:
    """An RFC 8941 Dictionary field value, members in order."""
    return _Parser(text.strip(" "), field).dictionary()


def serialize_bare(value: Bare) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise SignatureError("decimal values have no place in a signature")
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return value.value
    if any(not " " <= c <= "~" for c in value):
        raise SignatureError("a string holds a character that is not printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_params(params: Params) -> str:
    return "".join(
        f";{name}" if value is True else f";{name}={serialize_bare(value)}"
        for name, value in params.items()
    )


def serialize_inner_list(names: Iterable[str], params: Params) -> str:
    return "(" + " ".join(serialize_bare(n) for n in names) + ")" + serialize_params(params)


# --- RFC 9530 Content-Digest -------------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """The ``Content-Digest`` field value for ``body``: its SHA-256, as RFC 9530 writes it."""
    return "sha-256=" + serialize_bare(hashlib.sha256(body).digest())


def check_content_digest(value: str, body: bytes) -> None:
    """Refuse unless ``value`` carries a ``sha-256`` digest equal to the body's. Other
    algorithms are ignored (RFC 9530 lets a recipient choose); sha-256 is the one required."""
    members = parse_dictionary(value, "Content-Digest")
    digest = members.get("sha-256")
    if digest is None:
        raise SignatureError("Content-Digest has no sha-256 digest")
    if not (isinstance(digest, Item) and isinstance(digest.value, bytes)):
        raise SignatureError("Content-Digest's sha-256 is not a byte sequence")
    if not hmac.compare_digest(digest.value, hashlib.sha256(body).digest()):
        raise SignatureError("the content does not match its Content-Digest")


# --- the message and its components (RFC 9421 section 2) ---------------------------------------


def normalize_target(url: str) -> str:
    """An absolute target URI with the scheme and host in lower case, the default port left
    out and an empty path as ``/``: the form both ends sign, whatever the caller typed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise SignatureError(f"not an absolute http(s) URI: {url!r}")
    if parts.username or parts.password or parts.fragment:
        raise SignatureError("a target URI has no user information or fragment")
    return urlunsplit(
        (scheme, _authority(scheme, parts.netloc), parts.path or "/", parts.query, "")
    )


def _authority(scheme: str, netloc: str) -> str:
    host, _, port = netloc.lower().rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not host:
        return netloc.lower()
    if port == {"http": "80", "https": "443"}[scheme]:
        return host
    return f"{host}:{port}" if port else host


@dataclass(frozen=True)
class Request:
    """What a signature can cover of an HTTP request."""

    method: str
    target_uri: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @classmethod
    def of(
        cls,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> Request:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls(method, normalize_target(url), tuple((k, v) for k, v in pairs), body)

    def field(self, name: str) -> str | None:
        """A header field's value, its lines joined as RFC 9421 section 2.1 says; None when
        the request does not have it."""
        values = [v.strip(" \t") for k, v in self.headers if k.lower() == name]
        return ", ".join(values) if values else None


def component_value(request: Request, name: str) -> str:
    """The value RFC 9421 gives component ``name`` of ``request``."""
    parts = urlsplit(request.target_uri)
    derived: dict[str, Callable[[], str]] = {
        "@method": lambda: request.method,
        "@target-uri": lambda: request.target_uri,
        "@authority": lambda: parts.netloc.lower(),
        "@scheme": lambda: parts.scheme.lower(),
        "@request-target": lambda: (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        "@path": lambda: parts.path or "/",
        "@query": lambda: f"?{parts.query}",
    }
    if name.startswith("@"):
        if name not in derived:
            raise SignatureError(f"the component {name} is not supported")
        return derived[name]()
    if name != name.lower() or not _TOKEN.fullmatch(name):
        raise SignatureError(f"{name!r} is not a component name")
    value = request.field(name)
    if value is None:
        raise SignatureError(f"the signature covers {name}, which the request does not have")
    return value


def signature_base(request: Request, components: Iterable[str], params: Params) -> bytes:
    """The exact bytes signed (RFC 9421 section 2.5): one line per covered component, then
    ``@signature-params`` with the components and parameters as serialized."""
    names = list(components)
    if len(set(names)) != len(names):
        raise SignatureError("a component is covered twice")
    lines = [f"{serialize_bare(n)}: {component_value(request, n)}" for n in names]
    lines.append(f'"@signature-params": {serialize_inner_list(names, params)}')
    base = "\n".join(lines)
    if not base.isascii() or any(c in base for c in "\r\0") or base.count("\n") >= len(lines):
        raise SignatureError("a covered value holds a line break or a character not ASCII")
    return base.encode("ascii")


def sign(
    key: NodeKey, request: Request, components: Iterable[str], params: Params, label: str = LABEL
) -> dict[str, str]:
    """``Signature-Input`` and ``Signature`` for ``request`` (RFC 9421 section 3.1)."""
    names = list(components)
    signature = key.sign(signature_base(request, names, params))
    return {
        "Signature-Input": f"{label}={serialize_inner_list(names, params)}",
        "Signature": f"{label}={serialize_bare(signature)}",
    }


@dataclass(frozen=True)
class Signed:
    """What a verified signature vouches for."""

    label: str
    components: tuple[str, ...]
    params: Params


def verify(request: Request, public_key: bytes, label: str = LABEL) -> Signed:
    """Check the signature ``label`` of ``request`` with ``public_key`` (RFC 9421 section
    3.2), nothing about the profile; `verify_request` is what a node uses."""
    signed = signature_input(request, label)
    signature = _signature_value(request, label)
    base = signature_base(request, signed.components, signed.params)
    if not verify_signature(public_key, base, signature):
        raise SignatureError("the signature does not verify with the key on record for it")
    return signed


def signature_input(request: Request, label: str = LABEL) -> Signed:
    """The covered components and parameters of signature ``label``, as the request says."""
    header = request.field("signature-input")
    if header is None:
        raise SignatureError("the request is not signed: it has no Signature-Input")
    found = parse_dictionary(header, "Signature-Input").get(label)
    if not isinstance(found, InnerList):
        raise SignatureError(f"Signature-Input has no signature labelled {label}")
    names = []
    for item in found.items:
        if not isinstance(item.value, str) or item.params:
            raise SignatureError("covered components must be plain names, without parameters")
        names.append(item.value)
    return Signed(label, tuple(names), found.params)


def _signature_value(request: Request, label: str) -> bytes:
    header = request.field("signature")
    if header is None:
        raise SignatureError("the request has Signature-Input but no Signature")
    found = parse_dictionary(header, "Signature").get(label)
    if not (isinstance(found, Item) and isinstance(found.value, bytes)):
        raise SignatureError(f"Signature has no byte sequence labelled {label}")
    return found.value


# --- the node-to-node profile ------------------------------------------------------------------


def new_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


def sign_request(
    key: NodeKey,
    keyid: str,
    method: str,
    url: str,
    *,
    now: int,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    lifetime: int = DEFAULT_LIFETIME_S,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers to send with a node-to-node request: ``Content-Digest`` (for a body),
    ``Signature-Input`` and ``Signature``, signed by ``key`` as member ``keyid`` at ``now``
    (Unix seconds), valid for ``lifetime`` seconds."""
    if not 0 < lifetime <= MAX_LIFETIME_S:
        raise ValueError(f"a signature lives 1 to {MAX_LIFETIME_S} seconds")
    added = dict(headers or {})
    components = list(REQUIRED)
    if body is not None:
        added["Content-Digest"] = content_digest(body)
        components.append(DIGEST)
    request = Request.of(method.upper(), url, added, body)
    params: Params = {
        "created": now,
        "expires": now + lifetime,
        "nonce": nonce or new_nonce(),
        "keyid": keyid,
        "alg": ALGORITHM,
    }
    return {k: v for k, v in added.items() if k == "Content-Digest"} | sign(
        key, request, components, params
    )


@dataclass(frozen=True)
class Verified:
    """A request whose signature holds: who signed it, and the nonce to remember until
    ``expires`` (plus the skew) has passed."""

    keyid: str
    nonce: str
    created: int
    expires: int


def verify_request(
    request: Request, key_for: Callable[[str], bytes | None], now: int, skew: int = CLOCK_SKEW_S
) -> Verified:
    """Check ``request`` against the profile and its signature with the key ``key_for``
    gives its ``keyid`` (None: no member of that name). Raises SignatureError."""
    signed = signature_input(request)
    params = _profile_params(signed)
    covered = set(signed.components)
    missing = [c for c in REQUIRED if c not in covered]
    if request.body or request.field(DIGEST) is not None:
        missing += [] if DIGEST in covered else [DIGEST]
    if missing:
        raise SignatureError(f"the signature must cover {', '.join(missing)}")
    created, expires = params["created"], params["expires"]
    if created > now + skew:
        raise SignatureError(f"the request is dated in the future (created {created}, now {now})")
    if now > expires + skew:
        raise SignatureError(f"the request expired (expires {expires}, now {now})")
    public_key = key_for(params["keyid"])
    if public_key is None:
        raise SignatureError(f"{params['keyid']!r} is not a member of this consortium")
    verify(request, public_key)
    if DIGEST in covered:
        check_content_digest(component_value(request, DIGEST), request.body or b"")
    return Verified(params["keyid"], params["nonce"], created, expires)


def _profile_params(signed: Signed) -> dict[str, int | str]:
    params = signed.params
    unknown = sorted(set(params) - {*PROFILE_PARAMETERS, "tag"})
    missing = [p for p in PROFILE_PARAMETERS if p not in params]
    if unknown:
        raise SignatureError(f"unexpected signature parameters: {', '.join(unknown)}")
    if missing:
        raise SignatureError(f"the signature lacks the parameters {', '.join(missing)}")
    created, expires = params["created"], params["expires"]
    nonce, keyid, alg = params["nonce"], params["keyid"], params["alg"]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in (created, expires)):
        raise SignatureError("created and expires must be integers")
    if not (isinstance(alg, str) and alg == ALGORITHM):
        raise SignatureError(f'alg must be "{ALGORITHM}"')
    if not (isinstance(nonce, str) and 16 <= len(nonce) <= MAX_NONCE_LENGTH):
        raise SignatureError(f"the nonce must be a string of 16 to {MAX_NONCE_LENGTH} characters")
    if not (isinstance(keyid, str) and 0 < len(keyid) <= MAX_KEYID_LENGTH):
        raise SignatureError("keyid must name a member's origin")
    assert isinstance(created, int) and isinstance(expires, int)
    if not 0 < expires - created <= MAX_LIFETIME_S:
        raise SignatureError(f"expires must be after created, by at most {MAX_LIFETIME_S} seconds")
    return {"created": created, "expires": expires, "nonce": nonce, "keyid": keyid}
