"""``consortium request|grant``: access requests, their review, and grants from the console."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consortium.access import grants, incidents, outputs, requests
from consortium.auth.roles import Actor
from consortium.cli.common import (
    dump_json,
    offline_check,
    on_node,
    out,
    read_json,
    recorded,
)
from consortium.events import Event

if TYPE_CHECKING:
    from consortium.node import Node
    from consortium.registry.keyring import Keyring

_STYLE = {"allowed": "green", "refused": "red", "review": "yellow", "obligation": "cyan"}


def _findings(findings: dict[str, list[dict[str, str]]]) -> None:
    """The compatibility check, term by term, per dataset."""
    from rich.table import Table

    for dataset_id, found in findings.items():
        table = Table(title=dataset_id, show_header=True, header_style="bold")
        for column in ("term", "verdict", "why"):
            table.add_column(column)
        for f in found:
            style = _STYLE.get(f["verdict"], "")
            table.add_row(f["term"], f"[{style}]{f['verdict']}[/]" if style else f["verdict"],
                          f["reason"])  # fmt: skip
        out.print(table)


@click.group("request")
def request_group() -> None:
    """Access requests: check, submit, review and decide them."""


@request_group.command("check")
@click.argument("request_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def request_check(node: Node, who: Actor, request_file: Path) -> None:
    """Run the compatibility check on a request file without submitting it."""
    payload = read_json(request_file)
    result = requests.preview(node.engine, who, payload)
    _findings(result["findings"])
    verdict = "compatible" if result["compatible"] else "NOT compatible"
    out.print(f"The request is {verdict} with the contracts.")
    if not result["submittable"]:
        out.print(f"It cannot be submitted: {result['refusal']}")
    elif not result["compatible"]:
        out.print("It can be submitted for manual review: a steward decides on the refused terms.")
    if result["second_approval"]:
        out.print("A director must co-approve it (highly sensitive or genetic data).")


@request_group.command("submit")
@click.argument("request_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def request_submit(node: Node, who: Actor, request_file: Path) -> None:
    """Submit an access request from a JSON file (researcher)."""
    payload = read_json(request_file)
    event = requests.submit_request(node.ledger, who, payload)
    _findings(event.body["findings"])
    review = " for manual review" if event.body["manual_review"] else ""
    recorded(
        f"Submitted {event.body['request']}{review}; decision due {event.body['review_due']}",
        event.index,
    )
    click.echo(event.body["request"])


@request_group.command("list")
@click.option("--status", type=click.Choice(requests.STATUSES))
@on_node(acts=True)
def request_list(node: Node, who: Actor, status: str | None) -> None:
    """The review queue (stewards, directors…), or your own requests (researchers)."""
    found = requests.list_requests(node.engine, who, status)
    for r in found:
        flags = " (manual review)" if r["manual_review"] else ""
        click.echo(
            f"{r['id']}  {r['status']}  due {r['review_due']}  {r['researcher']}  "
            f"{r['project_title']}{flags}"
        )


@request_group.command("show")
@click.argument("request_id")
@on_node(acts=True)
def request_show(node: Node, who: Actor, request_id: str) -> None:
    """One request as JSON, with its findings and every decision."""
    dump_json(requests.get_request(node.engine, who, request_id))


@request_group.command("resubmit")
@click.argument("request_id")
@click.argument("request_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def request_resubmit(node: Node, who: Actor, request_id: str, request_file: Path) -> None:
    """Resubmit a request that was returned for changes (its researcher)."""
    payload = read_json(request_file)
    event = requests.resubmit_request(node.ledger, who, request_id, payload)
    recorded(f"Resubmitted {request_id}", event.index)


def _decide(
    node: Node,
    who: Actor,
    command: Any,
    request_id: str,
    *,
    signs: bool = False,
    **body: Any,
) -> None:
    """Run a review command; ``signs`` for those that may issue a grant with the node key."""
    payload = {k: v for k, v in body.items() if v is not None}
    if signs:
        done = command(node.ledger, node.key, who, request_id, payload)
    else:
        done = command(node.ledger, who, request_id, payload)
    events: list[Event] = done if isinstance(done, list) else [done]
    for event in events:
        recorded(
            f"{event.kind} {event.body.get('request') or event.body.get('grant')}", event.index
        )


@request_group.command("withdraw")
@click.argument("request_id")
@click.option("--reason")
@on_node(acts=True)
def request_withdraw(node: Node, who: Actor, request_id: str, reason: str | None) -> None:
    """Withdraw your open request (researcher)."""
    _decide(node, who, requests.withdraw_request, request_id, reason=reason)


@request_group.command("return")
@click.argument("request_id")
@click.option("--reason", required=True, help="What the researcher should change.")
@on_node(acts=True)
def request_return(node: Node, who: Actor, request_id: str, reason: str) -> None:
    """Send a request back for changes (steward)."""
    _decide(node, who, requests.return_request, request_id, reason=reason)


@request_group.command("deny")
@click.argument("request_id")
@click.option("--reason", required=True)
@on_node(acts=True)
def request_deny(node: Node, who: Actor, request_id: str, reason: str) -> None:
    """Deny a request (steward; director at the second approval)."""
    _decide(node, who, requests.deny_request, request_id, reason=reason)


@request_group.command("approve")
@click.argument("request_id")
@click.option("--reason", help="Required when the request failed the compatibility check.")
@on_node(acts=True)
def request_approve(node: Node, who: Actor, request_id: str, reason: str | None) -> None:
    """Approve a request (steward); issues the grant unless a director must co-approve."""
    _decide(node, who, requests.approve_request, request_id, signs=True, reason=reason)


@request_group.command("co-approve")
@click.argument("request_id")
@click.option("--reason")
@on_node(acts=True)
def request_co_approve(node: Node, who: Actor, request_id: str, reason: str | None) -> None:
    """The second approval (director); issues the grant."""
    _decide(node, who, requests.co_approve_request, request_id, signs=True, reason=reason)


# --- grants -------------------------------------------------------------------------------------


@click.group("grant")
def grant_group() -> None:
    """Grants: list, export, verify offline, revoke."""


@grant_group.command("list")
@click.option("--status", type=click.Choice(grants.STATUSES))
@on_node(acts=True)
def grant_list(node: Node, who: Actor, status: str | None) -> None:
    """Grants (all for stewards, directors, admins, auditors; your own otherwise)."""
    for g in grants.list_grants(node.engine, who, status):
        click.echo(
            f"{g['id']}  {g['status']}  until {g['valid_until']}  {g['holder']}  "
            f"{g['document']['project_title']}"
        )


@grant_group.command("show")
@click.argument("grant_id")
@on_node(acts=True)
def grant_show(node: Node, who: Actor, grant_id: str) -> None:
    """One grant as JSON: its signed document, status and what was attested."""
    dump_json(grants.get_grant(node.engine, who, grant_id))


@grant_group.command("export")
@click.argument("grant_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def grant_export(node: Node, who: Actor, grant_id: str, output: Path | None) -> None:
    """The signed grant as a file anyone can verify with `consortium grant verify`."""
    file = grants.grant_file(node.engine, who, grant_id, node.vkey)
    text = json.dumps(file, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    fd, tmp = tempfile.mkstemp(dir=output.parent or Path("."), prefix=".grant-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, output)
    out.print(f"Wrote {output}.")


@grant_group.command("verify")
@click.argument("grant_file", type=click.Path(dir_okay=False, path_type=Path))
@offline_check
def grant_verify(trusted: Keyring, grant_file: Path) -> None:
    """Check a grant file offline against the issuer's key you trust (--vkey, or the one your
    node recorded), and its validity dates; never against the key the file carries."""
    summary = grants.verify_grant_file(read_json(grant_file), trusted)
    state = "EXPIRED" if summary["expired"] else "valid"
    out.print(
        f"[green]OK[/] grant {summary['grant']} signed by {summary['issuer']} (checked with "
        f"{summary['key']}); {state}, {summary['valid_from']} to {summary['valid_until']}; holder "
        f"{summary['holder']['investigator']} ({summary['holder']['institution']})"
    )
    out.print(
        "Revocation cannot be checked offline: ask the issuing node "
        f"(GET /api/v1/grants/{summary['grant']}/status, no sign-in needed) or read its ledger."
    )
    out.print(f"The status there names this very document (digest {summary['digest']}).")
    if summary["expired"]:
        raise click.ClickException(f"grant {summary['grant']} expired on {summary['valid_until']}")


@grant_group.command("revoke")
@click.argument("grant_id")
@click.option("--reason", required=True)
@on_node(acts=True)
def grant_revoke(node: Node, who: Actor, grant_id: str, reason: str) -> None:
    """Revoke an active grant (steward)."""
    event = grants.revoke_grant(node.ledger, who, grant_id, {"reason": reason})
    recorded(f"Revoked {grant_id}", event.index)


@grant_group.command("report-output")
@click.argument("grant_id")
@click.argument("output_file", type=click.Path(dir_okay=False, path_type=Path))
@on_node(acts=True)
def grant_report_output(node: Node, who: Actor, grant_id: str, output_file: Path) -> None:
    """Report what came of a grant from a JSON file: {"kind", "title", "doi"…} (its holder)."""
    payload = read_json(output_file)
    event = outputs.report_output(node.ledger, who, grant_id, payload)
    recorded(f"Reported {event.body['output']} for {grant_id}", event.index)


@grant_group.command("attest-deletion")
@click.argument("grant_id")
@click.option("--statement", required=True, help="What was deleted, and when.")
@on_node(acts=True)
def grant_attest_deletion(node: Node, who: Actor, grant_id: str, statement: str) -> None:
    """Attest that every copy was deleted, as the contract requires (the grant's holder)."""
    event = grants.attest_deletion(node.ledger, who, grant_id, {"statement": statement})
    recorded(f"Deletion attested for {grant_id}", event.index)


@click.group("incident")
def incident_group() -> None:
    """Incidents: report, suspend the grants they touch, close."""


@incident_group.command("report")
@click.option("--severity", required=True, type=click.Choice(incidents.SEVERITIES))
@click.option("--kind", required=True, type=click.Choice(incidents.KINDS))
@click.option("--description", required=True)
@click.option("--dataset", "datasets_", multiple=True, help="An affected dataset (repeatable).")
@click.option("--grant", "grants_", multiple=True, help="An affected grant (repeatable).")
@on_node(acts=True)
def incident_report(
    node: Node,
    who: Actor,
    severity: str,
    kind: str,
    description: str,
    datasets_: tuple[str, ...],
    grants_: tuple[str, ...],
) -> None:
    """Report a suspected breach, misuse or key compromise (steward or admin)."""
    payload = {
        "severity": severity,
        "kind": kind,
        "description": description,
        "datasets": list(datasets_),
        "grants": list(grants_),
    }
    event = incidents.report_incident(node.ledger, who, payload)
    recorded(f"Reported {event.body['incident']}", event.index)
    click.echo(event.body["incident"])


@incident_group.command("suspend-grants")
@click.argument("incident_id")
@on_node(acts=True)
def incident_suspend(node: Node, who: Actor, incident_id: str) -> None:
    """Suspend every active grant the incident touches, in one action (steward)."""
    event = incidents.suspend_grants(node.ledger, who, incident_id)
    recorded(f"Suspended {', '.join(event.body['grants'])}", event.index)


@incident_group.command("close")
@click.argument("incident_id")
@click.option("--resolution", required=True)
@click.option("--reinstate", is_flag=True, help="Reinstate the grants it suspended.")
@on_node(acts=True)
def incident_close(
    node: Node, who: Actor, incident_id: str, resolution: str, reinstate: bool
) -> None:
    """Close an incident with its resolution (steward or admin)."""
    event = incidents.close_incident(
        node.ledger,
        who,
        incident_id,
        {"resolution": resolution, "reinstate": reinstate},
    )
    recorded(f"Closed {incident_id}", event.index)
