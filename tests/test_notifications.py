"""Notifications: the inbox as a projection (and its node-local read state), review reminders
and escalations on working days, and e-mail through a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import scenario
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from conftest import token_for
from sqlalchemy import select

from consortium import events
from consortium.access import grants, incidents, outputs, requests
from consortium.api import create_app
from consortium.auth.roles import NODE
from consortium.cli import main
from consortium.errors import NotFound
from consortium.events import Event
from consortium.jobs import email_job, review_deadline_job
from consortium.node import Node, NodeConfigError
from consortium.node.config import NodeConfig
from consortium.notifications import SENT, inbox, mark_read, review_deadlines, set_email
from consortium.projections import rebuild, snapshot
from consortium.registry import datasets, settings

World = tuple[Node, Node, str]


@pytest.fixture
def world(tmp_path: Path, database_url: str | None) -> Iterator[World]:
    """The hospital with a published dataset under an active contract with the institute."""
    hospital, institute = scenario.pair(tmp_path, database_url)
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    scenario.active(hospital, institute, ds)
    yield hospital, institute, ds
    hospital.close()
    institute.close()


def seen(node: Node, username: str, **options: Any) -> list[tuple[str, str]]:
    """Someone's inbox as (kind, subject), newest first."""
    return [(n["kind"], n["subject"]) for n in inbox(node.engine, username, **options)]


def submit(node: Node, ds: str) -> str:
    rita = scenario.actor(node, "rita")
    return requests.submit_request(node.ledger, rita, scenario.access_request(ds)).body["request"]


TITLE = scenario.access_request("x")["project_title"]


# --- the inbox ---------------------------------------------------------------------------------


def test_request_approval_and_grant_reach_the_right_people(world: World) -> None:
    hospital, institute, _ = world
    sam, dora = scenario.actor(hospital, "sam"), scenario.actor(hospital, "dora")
    sensitive = datasets.register_dataset(
        hospital.ledger, sam, scenario.metadata(sensitivity="highly-sensitive")
    ).body["dataset"]
    scenario.active(hospital, institute, sensitive)
    rid = submit(hospital, sensitive)
    requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    _, issued = requests.co_approve_request(hospital.ledger, hospital.key, dora, rid, {})
    gid = issued.body["grant"]
    grants.revoke_grant(hospital.ledger, sam, gid, {"reason": "the study ended early"})

    # Stewards hear of the new request (with its deadline) and of the grant, which dora's
    # co-approval issued; no one is told of what they did themselves (sam's approval).
    [new, granted] = reversed(inbox(hospital.engine, "sue"))
    assert new["kind"] == "access.requested" and new["subject"] == f"New access request: {TITLE}"
    due = requests.get_request(hospital.engine, sam, rid)["review_due"]
    assert f"Decide by {due}." in new["text"]
    assert new["link"] == f"/api/v1/access-requests/{rid}"
    assert granted["kind"] == "grant.issued" and granted["link"] == f"/api/v1/grants/{gid}"
    assert seen(hospital, "sam") == [
        ("grant.issued", f"Grant issued: {TITLE}"),
        ("access.requested", f"New access request: {TITLE}"),
    ]
    # The director is asked to co-approve; the researcher hears of each decision.
    assert seen(hospital, "dora") == [("access.approved", f"Co-approval needed: {TITLE}")]
    assert seen(hospital, "rita") == [
        ("grant.revoked", f"Grant revoked: {TITLE}"),
        ("grant.issued", f"Grant issued: {TITLE}"),
        ("access.co_approved", f"Access request co-approved: {TITLE}"),
        ("access.approved", f"Access request approved, awaiting co-approval: {TITLE}"),
    ]
    assert "Reason: the study ended early" in inbox(hospital.engine, "rita")[0]["text"]
    assert seen(hospital, "ada") == seen(hospital, "lee") == []


def test_named_contributors_hear_of_grants_and_outputs_citing_their_data(world: World) -> None:
    hospital, institute, plain = world
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    meta = scenario.metadata()
    meta["contributors"][0]["username"] = "dora"
    ds = datasets.register_dataset(hospital.ledger, sam, meta).body["dataset"]
    scenario.active(hospital, institute, ds)
    for dataset in (plain, ds):
        rid = submit(hospital, dataset)
        gid = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})[1].body["grant"]
        publication = {"kind": "publication", "title": "HbA1c after surgery", "doi": "10.1000/x1"}
        outputs.report_output(hospital.ledger, rita, gid, publication)

    # Only the dataset that names her as a contributor tells her anything.
    assert seen(hospital, "dora") == [
        ("output.reported", "New publication: HbA1c after surgery"),
        ("grant.issued", f"Grant issued: {TITLE}"),
    ]
    assert gid in inbox(hospital.engine, "dora")[0]["text"]


def test_returned_denied_approved_and_expired(world: World) -> None:
    hospital, _, ds = world
    sam = scenario.actor(hospital, "sam")
    returned = submit(hospital, ds)
    requests.return_request(hospital.ledger, sam, returned, {"reason": "add the ethics letter"})
    denied = submit(hospital, ds)
    requests.deny_request(hospital.ledger, sam, denied, {"reason": "out of scope"})
    approved = submit(hospital, ds)
    grant = requests.approve_request(hospital.ledger, hospital.key, sam, approved, {})[1]
    grants.expire_grants(hospital.ledger, NODE, today=date(2099, 1, 1))

    rita = inbox(hospital.engine, "rita")
    assert [n["kind"] for n in rita] == [
        "grant.expired",
        "grant.issued",
        "access.approved",
        "access.denied",
        "access.returned",
    ]
    assert rita[0]["text"].endswith("expired on 2099-01-01.")
    assert rita[0]["link"] == f"/api/v1/grants/{grant.body['grant']}"
    assert rita[3]["text"].endswith("Reason: out of scope")
    assert rita[4]["subject"] == f"Access request returned: {TITLE}"
    assert [n["kind"] for n in inbox(hospital.engine, "sue")].count("access.requested") == 3


def test_rebuild_keeps_the_inbox_and_what_was_read(world: World) -> None:
    hospital, _, ds = world
    sam = scenario.actor(hospital, "sam")
    rid = submit(hospital, ds)
    requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    first = inbox(hospital.engine, "rita")[-1]
    mark_read(hospital.engine, "rita", first["id"])
    live, before = snapshot(hospital.engine), inbox(hospital.engine, "rita")
    assert live["notification"] and [n["read"] for n in before] == [False, True]

    rebuild(hospital.ledger)
    assert snapshot(hospital.engine) == live
    assert inbox(hospital.engine, "rita") == before
    assert inbox(hospital.engine, "rita", unread_only=True) == before[:1]


def test_read_state_is_each_persons_own(world: World) -> None:
    hospital, _, ds = world
    submit(hospital, ds)
    [note] = inbox(hospital.engine, "sam")
    with pytest.raises(NotFound):
        mark_read(hospital.engine, "sue", note["id"])
    read = mark_read(hospital.engine, "sam", note["id"])
    assert read["read"] and read["read_at"]
    assert mark_read(hospital.engine, "sam", note["id"]) == read  # again: no change
    assert not inbox(hospital.engine, "sue")[0]["read"]


def test_inbox_api(world: World) -> None:
    hospital, _, ds = world
    submit(hospital, ds)
    submit(hospital, ds)
    client = create_app(hospital).test_client()
    sam = {"Authorization": f"Bearer {token_for(hospital, 'sam')}"}
    sue = {"Authorization": f"Bearer {token_for(hospital, 'sue')}"}

    listed = client.get("/api/v1/inbox", headers=sam).get_json()
    assert [n["entry_index"] for n in listed] == sorted(
        (n["entry_index"] for n in listed), reverse=True
    )
    assert len(listed) == 2 and not any(n["read"] for n in listed)
    key = listed[1]["id"]
    assert client.post(f"/api/v1/inbox/{key}/read", headers=sue).status_code == 404
    r = client.post(f"/api/v1/inbox/{key}/read", headers=sam)
    assert r.status_code == 200 and r.get_json()["read"] is True
    unread = client.get("/api/v1/inbox?unread=true", headers=sam).get_json()
    assert [n["id"] for n in unread] == [listed[0]["id"]]
    assert client.get("/api/v1/inbox").status_code == 401

    r = client.put("/api/v1/me/email", json={"email": "sam@st-example.example"}, headers=sam)
    assert r.status_code == 200 and r.get_json() == {
        "username": "sam",
        "email": "sam@st-example.example",
    }
    bad = client.put("/api/v1/me/email", json={"email": "not an address"}, headers=sam)
    assert bad.status_code == 422 and "email" in bad.get_json()["errors"]["json"]


def test_several_projectors_per_kind_run_in_order_and_none_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "_PROJECTORS", {})
    ran: list[str] = []

    def first(conn: Any, event: Event) -> None:
        ran.append("first")

    def second(conn: Any, event: Event) -> None:
        ran.append("second")

    events.projects("x.happened")(first)
    events.projects("x.happened")(second)
    with pytest.raises(RuntimeError, match="registered twice"):
        events.projects("x.happened")(first)
    events.apply(None, Event(1, "2026-01-01T00:00:00.000000Z", "x.happened", "node", {}))  # type: ignore[arg-type]
    assert ran == ["first", "second"]


# --- review deadlines ----------------------------------------------------------------------------


def _working_day_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def test_reminder_one_working_day_before_then_escalation_once_each(world: World) -> None:
    hospital, _, ds = world
    sam = scenario.actor(hospital, "sam")
    rid = submit(hospital, ds)
    returned = submit(hospital, ds)  # waits on its researcher: no alerts
    requests.return_request(hospital.ledger, sam, returned, {"reason": "add the ethics letter"})
    due = date.fromisoformat(requests.get_request(hospital.engine, sam, rid)["review_due"])
    eve = _working_day_before(due)
    size = hospital.ledger.size()

    assert review_deadlines(hospital.ledger, NODE, _working_day_before(eve)) == []
    [reminder] = review_deadlines(hospital.ledger, NODE, eve)
    assert (reminder.kind, reminder.actor) == ("access.review_reminder", "node")
    assert reminder.body == {"request": rid, "due": due.isoformat()}
    for day in (eve, eve + timedelta(days=1), due):  # a weekend between changes nothing
        assert review_deadlines(hospital.ledger, NODE, day) == []
    [escalation] = review_deadlines(hospital.ledger, NODE, due + timedelta(days=1))
    assert escalation.kind == "access.review_escalated" and escalation.body == reminder.body
    review_deadline_job(hospital, today=due + timedelta(days=2))  # the job: nothing new
    review_deadline_job(hospital, today=due + timedelta(days=30))
    assert hospital.ledger.size() == size + 2

    reminded = ("access.review_reminder", f"Review due {due}: {TITLE}")
    overdue = ("access.review_escalated", f"Review overdue: {TITLE}")
    assert [n for n in seen(hospital, "sam") if n[0].startswith("access.review")] == [
        overdue,
        reminded,
    ]
    assert seen(hospital, "ada") == [overdue]
    assert "is still submitted" in inbox(hospital.engine, "ada")[0]["text"]
    assert not [n for n in seen(hospital, "dora") if n[0].startswith("access.review")]


def test_overdue_before_any_reminder_is_escalated_only_and_decided_ones_never(
    world: World,
) -> None:
    hospital, _, ds = world
    sam = scenario.actor(hospital, "sam")
    late, decided = submit(hospital, ds), submit(hospital, ds)
    requests.deny_request(hospital.ledger, sam, decided, {"reason": "out of scope"})
    events_ = review_deadlines(hospital.ledger, NODE, date(2099, 1, 1))
    assert [(e.kind, e.body["request"]) for e in events_] == [("access.review_escalated", late)]
    live = snapshot(hospital.engine)
    rebuild(hospital.ledger)
    assert snapshot(hospital.engine) == live


# --- e-mail --------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps what it receives. It runs before the server answers
    the client, so a message is here by the time the sender's call returns."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def sent(self) -> list[tuple[list[str], str]]:
        return [(to, str(message["Subject"])) for to, message in self.received]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(mailbox: Mailbox, port: int) -> Iterator[Controller]:
    """A real SMTP server on 127.0.0.1:``port`` while the block runs."""
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    with serving(mailbox, _free_port()) as controller:
        yield controller, mailbox


def _with_smtp(node: Node, port: int) -> Node:
    """The node reopened with an ``[smtp]`` table in its node.toml."""
    with node.config.path.open("a", encoding="utf-8") as fh:
        fh.write(f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nfrom = "node@st-example.example"\n')
    return Node.open(node.config.data_dir)


def test_notifications_are_mailed_once(
    world: World, smtp_server: tuple[Controller, Mailbox]
) -> None:
    hospital, _, ds = world
    controller, mailbox = smtp_server
    node = _with_smtp(hospital, controller.port)
    assert node.config.smtp is not None and node.config.smtp.port == controller.port
    sam = scenario.actor(node, "sam")
    set_email(node.engine, "sam", {"email": "sam@st-example.example"})
    set_email(node.engine, "rita", {"email": "rita@ngi.example"})
    rid = submit(node, ds)
    requests.approve_request(node.ledger, node.key, sam, rid, {})
    set_email(node.engine, "sue", {"email": "sue@st-example.example"})  # after the fact

    email_job(node)
    subject = f"[St Example Hospital] %s: {TITLE}"
    assert sorted(mailbox.sent()) == [
        (["rita@ngi.example"], subject % "Access request approved"),
        (["rita@ngi.example"], subject % "Grant issued"),
        (["sam@st-example.example"], subject % "New access request"),
    ]
    [(_, message)] = [m for m in mailbox.received if m[0] == ["sam@st-example.example"]]
    assert message["From"] == "node@st-example.example"
    assert f"/api/v1/access-requests/{rid}" in message.get_content()

    email_job(node)
    rebuild(node.ledger)
    email_job(node)
    assert len(mailbox.received) == 3  # nothing twice, not even after a rebuild
    node.close()


def test_a_mail_server_failure_leaves_notifications_for_the_next_run(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    hospital, _, ds = world
    mailbox, port = Mailbox(), _free_port()
    node = _with_smtp(hospital, port)
    set_email(node.engine, "sam", {"email": "sam@st-example.example"})
    with serving(mailbox, port):
        submit(node, ds)
    # The server has stopped: the job logs the failure and keeps the notification.
    with caplog.at_level(logging.WARNING, logger="consortium.notifications"):
        email_job(node)
    assert "will retry" in caplog.text
    with node.engine.connect() as conn:
        assert conn.execute(select(SENT)).all() == []

    with serving(mailbox, port):
        email_job(node)
    assert mailbox.sent() == [
        (["sam@st-example.example"], f"[St Example Hospital] New access request: {TITLE}")
    ]
    node.close()


def test_without_smtp_nothing_is_sent(world: World) -> None:
    hospital, _, ds = world
    set_email(hospital.engine, "sam", {"email": "sam@st-example.example"})
    submit(hospital, ds)
    email_job(hospital)
    with hospital.engine.connect() as conn:
        assert conn.execute(select(SENT)).all() == []


def test_user_email_command(world: World) -> None:
    hospital, _, _ = world
    data_dir = str(hospital.config.data_dir)
    run = CliRunner().invoke
    result = run(main, ["--data-dir", data_dir, "user", "email", "sam", "sam@st-example.example"])
    assert result.exit_code == 0, result.output
    assert "sam@st-example.example" in result.output
    bad = run(main, ["--data-dir", data_dir, "user", "email", "sam", "sam at home"])
    assert bad.exit_code == 1 and "email" in bad.output
    nobody = run(main, ["--data-dir", data_dir, "user", "email", "nobody", "n@example.org"])
    assert nobody.exit_code == 1 and "no person 'nobody'" in nobody.output


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('host = "mail"\nfrom = "n@example.org"\npassword = "x"', "CONSORTIUM_SMTP_PASSWORD"),
        ('from = "n@example.org"', "host is required"),
        ('host = "mail"\nfrom = "n@example.org"\nport = "25"', "port"),
        ('host = "mail"\nfrom = "n@example.org"\nstarttls = "yes"', "starttls"),
        ('host = "mail"\nfrom = "n@example.org"\nsender = "x"', "unknown setting(s) sender"),
    ],
)
def test_smtp_settings_are_checked(tmp_path: Path, table: str, problem: str) -> None:
    config = NodeConfig(tmp_path, "St Example Hospital", "consortium.example/st-example")
    config.write()
    with config.path.open("a", encoding="utf-8") as fh:
        fh.write(f"[smtp]\n{table}\n")
    with pytest.raises(NodeConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        NodeConfig.load(tmp_path)


def test_smtp_defaults_and_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = NodeConfig(tmp_path, "St Example Hospital", "consortium.example/st-example")
    config.write()
    with config.path.open("a", encoding="utf-8") as fh:
        fh.write('[smtp]\nhost = "mail"\nfrom = "n@example.org"\nusername = "node"\n')
    smtp = NodeConfig.load(tmp_path).smtp
    assert smtp is not None and (smtp.port, smtp.starttls, smtp.username) == (25, False, "node")
    monkeypatch.setenv("CONSORTIUM_SMTP_PASSWORD", "s3cret")
    assert smtp.password == "s3cret"
    assert "s3cret" not in repr(smtp)


def test_resubmissions_and_reinstatements_are_told(world: World) -> None:
    hospital, _, ds = world
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    rid = submit(hospital, ds)
    requests.return_request(hospital.ledger, sam, rid, {"reason": "add the ethics letter"})
    requests.resubmit_request(hospital.ledger, rita, rid, scenario.access_request(ds))
    assert seen(hospital, "sue")[0] == (
        "access.resubmitted",
        f"Access request resubmitted: {TITLE}",
    )
    gid = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})[1].body["grant"]
    incident = incidents.report_incident(
        hospital.ledger, sam,
        {"severity": "high", "kind": "misuse", "description": "Shared by e-mail.", "grants": [gid]},
    ).body["incident"]  # fmt: skip
    # The holder cannot read the incident list: their notice points at the grant.
    told = inbox(hospital.engine, "rita")[0]
    assert told["kind"] == "incident.reported" and told["link"] == f"/api/v1/grants/{gid}"
    incidents.suspend_grants(hospital.ledger, sam, incident)
    incidents.close_incident(
        hospital.ledger, sam, incident, {"resolution": "A false alarm.", "reinstate": True}
    )
    assert seen(hospital, "rita")[:2] == [
        ("incident.closed", f"Grant reinstated: {TITLE}"),
        ("incident.grants_suspended", f"Grant suspended: {TITLE}"),
    ]


def test_directors_hear_of_a_version_awaiting_their_approval_by_inbox_and_mail(
    world: World, smtp_server: tuple[Controller, Mailbox]
) -> None:
    hospital, _, ds = world
    controller, mailbox = smtp_server
    node = _with_smtp(hospital, controller.port)
    ada, sam, dora = (scenario.actor(node, u) for u in ("ada", "sam", "dora"))
    set_email(node.engine, "dora", {"email": "dora@st-example.example"})
    subject = "Dataset awaiting your approval: Renamed cohort"
    datasets.revise_dataset(node.ledger, sam, ds, scenario.metadata(title="Before approval"))
    assert seen(node, "dora") == []  # published at once: nothing to approve

    settings.change_settings(node.ledger, ada, {"director_approval_required": True})
    datasets.revise_dataset(node.ledger, sam, ds, scenario.metadata(title="Renamed cohort"))
    assert seen(node, "dora") == [("dataset.revised", subject)]
    [note] = inbox(node.engine, "dora")
    assert f"version 3 of dataset {ds}" in note["text"]
    assert note["link"] == f"/api/v1/datasets/{ds}?version=3"
    assert seen(node, "sam") == [] and seen(node, "sue") == []  # stewards do not approve

    email_job(node)
    assert mailbox.sent() == [(["dora@st-example.example"], f"[St Example Hospital] {subject}")]
    datasets.approve_dataset(node.ledger, dora, ds, {})
    before = snapshot(node.engine)
    rebuild(node.ledger)
    assert snapshot(node.engine) == before
    node.close()
