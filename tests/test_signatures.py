"""RFC 9421 message signatures and RFC 9530 digests: the RFCs' own examples, then the
node-to-node profile and every way a request can be tampered with."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from consortium.crypto.keys import NodeKey
from consortium.federation.signatures import (
    CLOCK_SKEW_S,
    MAX_LIFETIME_S,
    Request,
    SignatureError,
    check_content_digest,
    content_digest,
    sign,
    sign_request,
    signature_base,
    verify,
    verify_request,
)

# RFC 9421 appendix B.1.4, the Ed25519 test key: the seed is the last 32 bytes of its PKCS#8.
RFC_SEED = base64.b64decode("MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF")[16:]
RFC_PUBLIC = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="
# Appendix B.2, the test request.
RFC_REQUEST = Request.of(
    "POST",
    "http://example.com/foo?param=Value&Pet=dog",
    [
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        (
            "Content-Digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLv"
            "RwEmTHWXvJwew==:",
        ),
        ("Content-Length", "18"),
    ],
    b'{"hello": "world"}',
)
B26_COMPONENTS = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
B26_PARAMS = {"created": 1618884473, "keyid": "test-key-ed25519"}
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
    '"content-length");created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)


def test_rfc9421_b26_signature_base_and_signature_are_reproduced_exactly() -> None:
    key = NodeKey.from_seed(RFC_SEED)
    assert base64.b64encode(key.public_key).decode() == RFC_PUBLIC
    assert signature_base(RFC_REQUEST, B26_COMPONENTS, B26_PARAMS).decode() == B26_BASE
    headers = sign(key, RFC_REQUEST, B26_COMPONENTS, B26_PARAMS, label="sig-b26")
    assert headers == {
        "Signature-Input": 'sig-b26=("date" "@method" "@path" "@authority" "content-type" '
        '"content-length");created=1618884473;keyid="test-key-ed25519"',
        "Signature": f"sig-b26=:{B26_SIGNATURE}:",
    }


def test_rfc9421_b26_signature_verifies_as_received_and_fails_when_altered() -> None:
    received = replace(
        RFC_REQUEST,
        headers=(
            *RFC_REQUEST.headers,
            (
                "Signature-Input",
                'sig-b26=("date" "@method" "@path" "@authority" "content-type" '
                '"content-length");created=1618884473;keyid="test-key-ed25519"',
            ),
            ("Signature", f"sig-b26=:{B26_SIGNATURE}:"),
        ),
    )
    public = base64.b64decode(RFC_PUBLIC)
    signed = verify(received, public, label="sig-b26")
    assert signed.components == tuple(B26_COMPONENTS)
    assert signed.params == B26_PARAMS
    moved = replace(received, target_uri="http://example.com/bar?param=Value&Pet=dog")
    with pytest.raises(SignatureError, match="does not verify"):
        verify(moved, public, label="sig-b26")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # RFC 9530 appendix B.1: {"hello": "world"} and a line feed.
        (b'{"hello": "world"}\n', "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"),
        # Appendix B.2: no content.
        (b"", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"),
        # RFC 9421 appendix B.2's request content, whose sha-256 RFC 9530 also gives.
        (b'{"hello": "world"}', "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
    ],
)
def test_rfc9530_content_digest_examples(body: bytes, field: str) -> None:
    assert content_digest(body) == field
    check_content_digest(field, body)
    with pytest.raises(SignatureError, match="does not match"):
        check_content_digest(field, body + b" ")


def test_content_digest_with_several_algorithms_is_checked_by_its_sha256() -> None:
    # RFC 9530 section 2's example dictionary, over {"hello": "world"} and a line feed.
    field = (
        "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:, sha-512=:YMAam51Jz/jOATT6/zvHrLVg"
        "OYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:"
    )
    check_content_digest(field, b'{"hello": "world"}\n')
    with pytest.raises(SignatureError, match="no sha-256"):
        check_content_digest(field.split(", ")[1], b'{"hello": "world"}\n')
    for bad in ("sha-256=abc", "sha-256=:not base64!:", "sha-256", "sha-256=:AA==:,"):
        with pytest.raises(SignatureError):
            check_content_digest(bad, b"")


# --- the node-to-node profile ------------------------------------------------------------------

NOW = 1_800_000_000
KEYID = "consortium.example/st-example-hospital"
URL = "https://node.example:8443/api/v1/ledger/entries/7/sealed"


@pytest.fixture(scope="module")
def key() -> NodeKey:
    return NodeKey.from_seed(bytes(range(32)))


def _request(headers: dict[str, str], method: str = "GET", url: str = URL, body=None) -> Request:
    return Request.of(method, url, headers, body)


def _keys(key: NodeKey):
    return lambda keyid: key.public_key if keyid == KEYID else None


def test_a_signed_get_verifies_and_names_its_member(key: NodeKey) -> None:
    headers = sign_request(key, KEYID, "GET", URL, now=NOW, nonce="n" * 32)
    assert "Content-Digest" not in headers
    assert headers["Signature-Input"] == (
        'sig1=("@method" "@target-uri");created=1800000000;expires=1800000060;'
        f'nonce="{"n" * 32}";keyid="{KEYID}";alg="ed25519"'
    )
    verified = verify_request(_request(headers), _keys(key), NOW)
    assert (verified.keyid, verified.nonce, verified.expires) == (KEYID, "n" * 32, NOW + 60)


def test_a_signed_post_covers_its_content_digest(key: NodeKey) -> None:
    body = b'{"old": 3}'
    headers = sign_request(key, KEYID, "POST", URL, now=NOW, body=body)
    assert headers["Content-Digest"] == content_digest(body)
    assert '"content-digest"' in headers["Signature-Input"]
    verify_request(_request(headers, "POST", body=body), _keys(key), NOW)


def test_the_target_uri_is_compared_in_its_normal_form(key: NodeKey) -> None:
    headers = sign_request(key, KEYID, "get", "HTTP://Node.Example:80/api", now=NOW)
    verify_request(_request(headers, url="http://node.example/api"), _keys(key), NOW)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda r: replace(r, method="DELETE"), "does not verify"),
        (lambda r: replace(r, target_uri=URL.replace("/7/", "/8/")), "does not verify"),
        (lambda r: replace(r, target_uri=URL + "?all=1"), "does not verify"),
        (lambda r: replace(r, target_uri=URL.replace("node.", "evil.")), "does not verify"),
        (lambda r: replace(r, body=b'{"old": 4}'), "does not match its Content-Digest"),
        (
            lambda r: _with(r, "Content-Digest", content_digest(b'{"old": 4}')),
            "does not verify",
        ),
        (
            lambda r: replace(
                _with(r, "Content-Digest", content_digest(b'{"old": 4}')), body=b'{"old": 4}'
            ),
            "does not verify",
        ),
        (lambda r: _without(r, "Signature"), "no Signature"),
        (lambda r: _without(r, "Signature-Input"), "not signed"),
        (lambda r: _without(r, "Content-Digest"), "does not have"),
        (lambda r: _with(r, "Signature", "sig1=:AAAA:"), "does not verify"),
        (lambda r: _with(r, "Signature", "sig1=AAAA"), "no byte sequence"),
        (lambda r: _with(r, "Signature-Input", "sig1=(garbage"), "not a valid structured"),
    ],
)
def test_tampering_is_refused(key: NodeKey, tamper, reason: str) -> None:
    body = b'{"old": 3}'
    signed = _request(sign_request(key, KEYID, "POST", URL, now=NOW, body=body), "POST", body=body)
    verify_request(signed, _keys(key), NOW)
    with pytest.raises(SignatureError, match=reason):
        verify_request(tamper(signed), _keys(key), NOW)


def _with(request: Request, name: str, value: str) -> Request:
    kept = tuple((k, v) for k, v in request.headers if k.lower() != name.lower())
    return replace(request, headers=(*kept, (name, value)))


def _without(request: Request, name: str) -> Request:
    return replace(request, headers=tuple((k, v) for k, v in request.headers if k != name))


def test_expired_and_future_dated_requests_are_refused_beyond_the_skew(key: NodeKey) -> None:
    headers = sign_request(key, KEYID, "GET", URL, now=NOW, lifetime=60)
    request = _request(headers)
    verify_request(request, _keys(key), NOW + 60 + CLOCK_SKEW_S)
    with pytest.raises(SignatureError, match="expired"):
        verify_request(request, _keys(key), NOW + 61 + CLOCK_SKEW_S)
    verify_request(request, _keys(key), NOW - CLOCK_SKEW_S)
    with pytest.raises(SignatureError, match="dated in the future"):
        verify_request(request, _keys(key), NOW - CLOCK_SKEW_S - 1)


def test_unknown_members_and_other_keys_are_refused(key: NodeKey) -> None:
    headers = sign_request(key, "consortium.example/stranger", "GET", URL, now=NOW)
    with pytest.raises(SignatureError, match="not a member"):
        verify_request(_request(headers), _keys(key), NOW)
    forged = sign_request(NodeKey.generate(), KEYID, "GET", URL, now=NOW)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_request(_request(forged), _keys(key), NOW)


def _signed_with(key: NodeKey, components: list[str], params: dict, body=None) -> Request:
    request = _request({"Content-Digest": content_digest(body)} if body else {}, body=body)
    headers = sign(key, request, components, params)
    return replace(request, headers=(*request.headers, *headers.items()))


GOOD = {"created": NOW, "expires": NOW + 60, "nonce": "n" * 20, "keyid": KEYID, "alg": "ed25519"}


@pytest.mark.parametrize(
    ("components", "params", "body", "reason"),
    [
        (["@method"], GOOD, None, "must cover @target-uri"),
        (["@target-uri"], GOOD, None, "must cover @method"),
        (["@method", "@target-uri"], GOOD, b"{}", "must cover content-digest"),
        (["@method", "@target-uri"], {**GOOD, "alg": "rsa-pss-sha512"}, None, "alg must be"),
        (["@method", "@target-uri"], {**GOOD, "expires": NOW + MAX_LIFETIME_S + 1}, None, "most"),
        (["@method", "@target-uri"], {**GOOD, "expires": NOW}, None, "after created"),
        (["@method", "@target-uri"], {**GOOD, "nonce": "short"}, None, "nonce"),
        (["@method", "@target-uri"], {**GOOD, "created": "now"}, None, "integers"),
        (["@method", "@target-uri"], {**GOOD, "other": 1}, None, "unexpected"),
        *[
            (["@method", "@target-uri"], {k: v for k, v in GOOD.items() if k != p}, None, p)
            for p in GOOD
        ],
    ],
)
def test_signatures_outside_the_profile_are_refused(
    key: NodeKey, components: list[str], params: dict, body, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_request(_signed_with(key, components, params, body), _keys(key), NOW)


def test_components_with_parameters_or_unknown_derived_ones_are_refused(key: NodeKey) -> None:
    params = f';created={NOW};expires={NOW + 60};nonce="{"n" * 20}";keyid="{KEYID}";alg="ed25519"'
    for covered, reason in [
        ('"@method" "@target-uri";req', "without parameters"),
        ('"@method" "@target-uri" "@status"', "not supported"),
        ('"@method" "@target-uri" "@method"', "covered twice"),
    ]:
        request = _request(
            {"Signature-Input": f"sig1=({covered}){params}", "Signature": f"sig1=:{'A' * 86}==:"}
        )
        with pytest.raises(SignatureError, match=reason):
            verify_request(request, _keys(key), NOW)


def test_the_documented_example_is_what_the_code_signs() -> None:
    """Protocol §14's worked example, from the example node of §2."""
    from pathlib import Path

    protocol = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text("utf-8")
    key = NodeKey.from_seed(bytes(range(32)))
    url = "https://ledger.st-marys.example.org/api/v1/ledger/entries/7/sealed"
    nonce = "b0nFZ8T2kq0wGm7Hk1rW5y3uV9xQe4Ls"
    headers = sign_request(key, "ledger.example.org", "GET", url, now=NOW, nonce=nonce)
    for name, value in headers.items():
        assert f"\n{name}: {value}\n" in protocol
    signed = Request.of("GET", url, headers)
    base = signature_base(signed, ["@method", "@target-uri"], verify(signed, key.public_key).params)
    assert f"```\n{base.decode()}\n```" in protocol
