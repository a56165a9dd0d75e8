"""Replaying a role's guide (``docs/guide-*.md``) through the CLI.

A guide marks the example files it gives its reader with ``<!-- guide-test: NAME -->`` just
above a fenced block; tests read those blocks out of the markdown, run the commands the guide
tells its reader to run, and check that every refusal's message is one the guide quotes. A
change to the code that breaks what a guide says fails its test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from consortium.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


class Guide:
    def __init__(self, name: str) -> None:
        self.path = DOCS / name

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def block(self, name: str, lang: str = "json") -> str:
        """The code block the guide marks with ``<!-- guide-test: name -->``."""
        found = re.findall(
            rf"<!-- guide-test: {re.escape(name)} -->\n```{lang}\n(.*?)\n```",
            self.text(),
            re.DOTALL,
        )
        assert len(found) == 1, f"{self.path.name} must mark exactly one {lang} block {name!r}"
        return found[0]

    def json(self, name: str) -> dict[str, Any]:
        return json.loads(self.block(name))

    def assert_quoted(self, result: Result) -> None:
        """The refusal's message appears in the guide (ids and digests aside)."""
        message = generic(error(result))
        assert message in generic(self.text()), f"{self.path.name} does not quote: {message}"


def run(*args: str | Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result


def last_line(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


def error(result: Result) -> str:
    """The one-line reason of a refused command, without click's ``Error: ``."""
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    return lines[0].removeprefix("Error: ")


def generic(text: str) -> str:
    """Ids and digests as the guides write them in troubleshooting: ``ds-…``, ``(digest …)``."""
    text = re.sub(r"\b(ds|ctr|req|gr|out|inc)-[a-z0-9]{10}\b", r"\1-…", text)
    return re.sub(r"\(digest [A-Za-z0-9+/]{43}=\)", "(digest …)", text)


HOSPITAL = "ledger.st-marys.example.org"
INSTITUTE = "ledger.ngi.example.org"


class PracticeNodes:
    """The guides' two practice nodes, as their section 2 has the reader create them: the
    hospital's and the institute's, each with its verifier key in ``vkeys``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hospital = root / "hospital"
        self.institute = root / "institute"
        self.vkeys: dict[str, str] = {}
        for path, name, origin in (
            (self.hospital, "St Mary's Hospital", HOSPITAL),
            (self.institute, "Northern Genomics Institute", INSTITUTE),
        ):
            created = run("init", "--data-dir", path, "--name", name, "--origin", origin).stdout
            found = re.search(r"^  vkey +(\S+)$", created, re.MULTILINE)
            assert found is not None, created
            self.vkeys[origin] = found[1]

    def institute_staff_and_members(self) -> None:
        """The institute's admin and steward, and each node adding the other as a member."""
        self.i("user", "add", "jonas", "--name", "Jonas Berg", "--role", "admin")
        self.i(
            "user", "add", "lena", "--name", "Dr Lena Novak", "--role", "steward", "--as", "jonas"
        )
        self.h(
            "member", "add", "--institution", "Northern Genomics Institute",
            "--vkey", self.vkeys[INSTITUTE], "--as", "amira",
        )  # fmt: skip
        self.i(
            "member", "add", "--institution", "St Mary's Hospital",
            "--vkey", self.vkeys[HOSPITAL], "--as", "jonas",
        )  # fmt: skip

    def h(self, *args: str | Path, ok: bool = True) -> Result:
        """A command on the hospital's node."""
        return run(*args, "--data-dir", self.hospital, ok=ok)

    def i(self, *args: str | Path, ok: bool = True) -> Result:
        """A command on the institute's node."""
        return run(*args, "--data-dir", self.institute, ok=ok)

    def write(self, name: str, value: dict[str, Any] | str) -> Path:
        path = self.root / name
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path
