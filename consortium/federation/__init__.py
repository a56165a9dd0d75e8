"""The federation: what nodes of a consortium ask of and do for each other.

- `signatures`: RFC 9421 HTTP message signatures (Ed25519) with RFC 9530 ``Content-Digest``,
  as pure functions over a request's parts: no Flask, no database.
- `peers`: the one place that says which key a member node's requests are checked with.
- `nonces`: the node-local record of nonces already seen, so a request is answered once.
- `inbound`: a signed request in, the calling member's origin out (or a refusal).
- `client`: signed outbound calls, with timeouts and bounded retries.
- `witness`: this node as a C2SP tlog-witness for its members' logs.
- `document` and `membership`: the consortium's membership document, its versions and the
  signatures that make one valid, recorded on the ledger.

Nothing below (``ledger``, ``credit``, ``crypto``) imports this package.
"""
