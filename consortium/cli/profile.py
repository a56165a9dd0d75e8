"""``consortium profile FILE``: profile a dataset where it lives; only the summary may leave.

Like every command, a failure ends with a one-line reason on standard error and a non-zero
exit status, and writes nothing: the summary file is written to a temporary name and renamed
into place only once complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from consortium.cli.common import err, out
from consortium.profile import DELIMITERS, QUOTES, Profile, ProfileError, profile_file

LARGE = 64 << 20
"""Files at least this size show a progress bar even when standard error is not a terminal
(then only its final state is printed, which gives a log the throughput)."""


@click.command("profile")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary, as JSON, to this file.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table."
)
@click.option(
    "--delimiter",
    type=click.Choice(list(DELIMITERS.values())),
    help="CSV: the field separator, when detection guesses wrong. Default: detected.",
)
@click.option(
    "--quote",
    type=click.Choice(list(QUOTES.values())),
    help="CSV: the quote character (double or single). Default: detected.",
)
def profile(
    file: Path, output: Path | None, as_json: bool, delimiter: str | None, quote: str | None
) -> None:
    """Profile FILE (.csv, .tsv or .jsonl, optionally .gz): fingerprint, completeness,
    identifiers.

    The file is read once, locally; the summary holds counts and masked examples only, never
    the data, and is what may be shared. A CSV file's separator (comma, semicolon, tab or
    pipe) and quote character are detected from its first lines and named in the summary.
    """
    if output is not None and output.exists() and file.exists() and output.samefile(file):
        raise click.ClickException(f"refusing to write the summary over the data file {file}")
    result = _run(file, _char(DELIMITERS, delimiter), _char(QUOTES, quote))
    summary = result.to_summary()
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    if output is not None:
        try:
            _write_atomically(output, text.encode())
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc
    if as_json:
        click.echo(text, nl=False)
    else:
        _print_summary(file, result, summary)
    if output is not None:
        err.print(f"Summary written to {escape(str(output))}.")


def _char(names: dict[str, str], name: str | None) -> str | None:
    """The character an option's name stands for (``tab`` -> a tab), or None."""
    return next((char for char, n in names.items() if n == name), None)


def _run(file: Path, delimiter: str | None, quotechar: str | None) -> Profile:
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    columns = [
        TextColumn("profiling"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ]
    show = err.is_terminal or size >= LARGE
    with Progress(*columns, console=err, transient=err.is_terminal, disable=not show) as bar:
        task = bar.add_task("profiling", total=size)
        try:
            return profile_file(
                file,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                delimiter=delimiter,
                quotechar=quotechar,
            )
        except ProfileError as exc:
            raise click.ClickException(str(exc)) from exc


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place: readers see the
    old file or the whole new one, and a failure leaves nothing behind."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _print_summary(file: Path, result: Profile, summary: dict[str, Any]) -> None:
    dialect = f" ({result.dialect.describe()})" if result.dialect else ""
    out.print(
        f"[bold]{escape(file.name)}[/]: {result.format}{dialect}, {result.records:,} records, "
        f"{len(result.columns)} columns, {result.size:,} bytes"
    )
    out.print(f"  sha256 {result.sha256}")
    findings_by_column: dict[str, list[str]] = {}
    for finding in result.findings:
        findings_by_column.setdefault(finding.column, []).append(finding.kind)

    columns = Table(title="Columns", title_justify="left")
    columns.add_column("column")
    columns.add_column("present", justify="right")
    columns.add_column("completeness", justify="right")
    columns.add_column("direct identifiers")
    for column in summary["columns"]:
        kinds = findings_by_column.get(column["name"], [])
        columns.add_row(
            escape(column["name"]),
            f"{column['present']:,}",
            column["completeness"],
            f"[red]{', '.join(kinds)}[/]" if kinds else "",
        )
    out.print(columns)

    if not result.findings:
        out.print("[green]No direct identifiers found[/] (by column names and value patterns).")
        return
    findings = Table(title="Direct identifier findings", title_justify="left")
    findings.add_column("column")
    findings.add_column("kind")
    findings.add_column("values", justify="right")
    findings.add_column("examples (masked)")
    for finding in result.findings:
        findings.add_row(
            escape(finding.column),
            finding.kind,
            f"{finding.count:,}",
            escape(", ".join(finding.examples)),
        )
    out.print(findings)
    out.print(
        f"[red]Direct identifiers found[/] in {len(findings_by_column)} of "
        f"{len(result.columns)} columns: remove or pseudonymise them before the data is shared."
    )
