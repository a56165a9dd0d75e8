"""Signed notes, verifier keys and checkpoints (C2SP formats)."""

from __future__ import annotations

import base64

import pytest

from consortium.crypto.keys import NodeKey
from consortium.crypto.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    sign_note,
    vkey,
)

# The signed-note example from Go's golang.org/x/mod/sumdb/note package documentation.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_matches_the_go_reference_note() -> None:
    key = NodeKey.from_seed(GO_SEED)
    assert vkey("PeterNeumann", key.public_key) == GO_VKEY
    assert sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE
    assert open_note(GO_NOTE, Verifier.parse(GO_VKEY)) == GO_TEXT


def test_checkpoint_round_trip_and_origin_check() -> None:
    key = NodeKey.generate()
    cp = Checkpoint("example.org/log", 12, bytes(range(32)))
    note = cp.sign(key)
    assert note.startswith(
        "example.org/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n— "
    )
    verifier = Verifier.parse(vkey("example.org/log", key.public_key))
    assert Checkpoint.open(note, verifier, "example.org/log") == cp
    with pytest.raises(NoteError, match="expected"):
        Checkpoint.open(note, verifier, "other.org/log")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("\n12\n", "\n13\n"),
        lambda n: n.replace("— ", "-- "),
        lambda n: n[:-2] + ("A" if n[-2] != "A" else "B") + "\n",
        lambda n: n.rstrip("\n"),
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n.replace("example.org/log\n12", "example.org/log\t\n12"),
        lambda n: "",
    ],
    ids=["size", "dash", "signature", "no-newline", "no-blank-line", "control-char", "empty"],
)
def test_tampered_or_malformed_notes_are_refused(mutate) -> None:
    key = NodeKey.generate()
    note = Checkpoint("example.org/log", 12, bytes(32)).sign(key)
    verifier = Verifier.parse(vkey("example.org/log", key.public_key))
    with pytest.raises(NoteError):
        Checkpoint.open(mutate(note), verifier)


def test_note_by_another_key_is_refused() -> None:
    note = Checkpoint("example.org/log", 1, bytes(32)).sign(NodeKey.generate())
    other = Verifier("example.org/log", NodeKey.generate().public_key)
    with pytest.raises(NoteError, match="not signed by"):
        open_note(note, other)


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+AhpcZQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+zz+ARpc",
    ],
)
def test_bad_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(text)


@pytest.mark.parametrize("size", ["012", "-1", "1.0", "", "١٢"])
def test_checkpoint_sizes_must_be_plain_decimals(size: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse_text(f"o\n{size}\n{base64.b64encode(bytes(32)).decode()}\n")
