"""The registry's console commands: refusals are one line, exit non-zero, and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import scenario
from click.testing import CliRunner

from consortium.cli import main
from consortium.node import Node


def run(data_dir: Path, *args: str, ok: bool = True):
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    assert (result.exit_code == 0) is ok, result.output
    if not ok:
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    return result


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "node"
    CliRunner().invoke(main, ["init", "--data-dir", str(d), "--name", "St Example Hospital"])
    run(d, "user", "add", "ada", "--name", "Ada", "--role", "admin")
    run(d, "user", "add", "sam", "--name", "Sam", "--role", "steward", "--as", "ada")
    return d


def _size(data_dir: Path) -> int:
    node = Node.open(data_dir)
    try:
        return node.ledger.size()
    finally:
        node.close()


def test_steward_registers_revises_and_profiles(data_dir: Path, tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(scenario.metadata()))
    out = run(data_dir, "dataset", "register", str(meta), "--as", "sam").output
    ds = out.strip().splitlines()[-1]
    assert ds.startswith("ds-") and "published" in out
    meta.write_text(json.dumps(scenario.metadata(record_count=99)))
    run(data_dir, "dataset", "revise", ds, str(meta), "--as", "sam")
    shown = json.loads(run(data_dir, "dataset", "show", ds).output)
    assert (shown["version"], shown["metadata"]["record_count"]) == (2, 99)
    summary = tmp_path / "profile.json"
    summary.write_text(json.dumps({"sha256": "a" * 64, "records": 99, "bytes": 1000}))
    run(data_dir, "dataset", "attach-profile", ds, str(summary), "--as", "sam")
    assert json.loads(run(data_dir, "dataset", "show", ds).output)["profiles"][0]["records"] == 99
    run(data_dir, "dataset", "withdraw", ds, "--reason", "retired", "--as", "sam")
    assert "withdrawn" in run(data_dir, "dataset", "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dataset", "register", "{meta}", "--as", "ada"], "needs the role 'steward'"),
        (["dataset", "register", "{meta}", "--as", "nobody"], "no active person 'nobody'"),
        (["dataset", "register", "{bad}", "--as", "sam"], "duo.permissions.0: "),
        (["dataset", "register", "{broken}", "--as", "sam"], "is not valid JSON"),
        (["dataset", "register", "{missing}", "--as", "sam"], "cannot read"),
        (["dataset", "approve", "ds-nothere", "--version", "1"], "no dataset 'ds-nothere'"),
        (["user", "roles", "ada", "--role", "steward"], "last admin"),
        (["member", "add", "--institution", "X", "--vkey", "nonsense"], "vkey: "),
        (["contract", "propose", "ctr-nothere", "--as", "sam"], "no contract 'ctr-nothere'"),
        (["rules", "sign", "1", "--as", "ada"], "no benefit rules version 1"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(
    data_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    files = {
        "meta": json.dumps(scenario.metadata()),
        "bad": json.dumps(scenario.metadata(duo={"permissions": ["NOPE"]})),
        "broken": "{not json",
    }
    for name, text in files.items():
        (tmp_path / f"{name}.json").write_text(text)
    args = [a.format(**{n: str(tmp_path / f"{n}.json") for n in [*files, "missing"]}) for a in args]
    size = _size(data_dir)
    result = run(data_dir, *args, ok=False)
    assert message in result.output
    assert _size(data_dir) == size


def test_a_director_approves_the_waiting_version_without_naming_it(
    data_dir: Path, tmp_path: Path
) -> None:
    run(data_dir, "user", "add", "dora", "--name", "Dora", "--role", "director", "--as", "ada")
    run(data_dir, "settings", "--director-approval", "--as", "ada")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(scenario.metadata()))
    ds = run(data_dir, "dataset", "register", str(meta), "--as", "sam").output.split()[-1]
    run(data_dir, "dataset", "revise", ds, str(meta), "--as", "sam")
    size = _size(data_dir)
    refusal = run(data_dir, "dataset", "approve", ds, "--as", "dora", ok=False).output
    assert refusal == (
        f"Error: several versions await approval (version: versions 1, 2 of {ds!r} await "
        "approval: name one)\n"
    )
    assert _size(data_dir) == size
    assert (
        "Approved version 2 of"
        in run(data_dir, "dataset", "approve", ds, "--version", "2", "--as", "dora").output
    )
    run(data_dir, "dataset", "revise", ds, str(meta), "--as", "sam")
    assert (
        f"Approved version 3 of {ds}"
        in run(data_dir, "dataset", "approve", ds, "--as", "dora").output
    )


def test_password_is_prompted_and_never_echoed(data_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--data-dir", str(data_dir), "user", "password", "sam"],
        input="a long enough secret\na long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long enough secret" not in result.output
    short = CliRunner().invoke(
        main, ["--data-dir", str(data_dir), "user", "password", "sam", "--password", "short"]
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output


def test_contract_commands_across_two_nodes(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    sam = scenario.actor(hospital, "sam")
    from consortium.registry import datasets

    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    values = tmp_path / "values.json"
    values.write_text(json.dumps(scenario.contract_values(hospital, institute, ds)))
    home, away = tmp_path / "hospital", tmp_path / "institute"
    hospital.close()
    institute.close()

    cid = run(home, "contract", "draft", str(values), "--as", "sam").output.strip().split()[-1]
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"title": "Cohort for the HbA1c study"}))
    run(home, "contract", "revise", cid, str(changes), "--as", "sam")
    assert json.loads(run(home, "contract", "show", cid).stdout)["title"] == (
        "Cohort for the HbA1c study"
    )
    run(home, "contract", "propose", cid, "--as", "sam")
    run(home, "contract", "sign", cid, "--as", "sam")
    exported = CliRunner().invoke(main, ["--data-dir", str(home), "contract", "export", cid])
    document = tmp_path / "document.json"
    document.write_text(exported.stdout)
    digest = json.loads(run(home, "contract", "show", cid).stdout)["digest"]
    assert f"digest {digest}" in exported.stderr
    assert run(away, "contract", "digest", str(document)).stdout.strip() == digest
    signed = run(away, "contract", "countersign", str(document), "--as", "sam").output
    assert digest in signed
    signature = signed.strip().splitlines()[-1]
    again = run(away, "contract", "countersign", str(document), "--as", "sam", ok=False)
    assert "already signed version 1" in again.output
    assert f"{cid}  v1  countersigned here" in run(away, "contract", "list").output
    origin = json.loads(document.read_text())["parties"][1]["origin"]
    run(home, "contract", "add-signature", cid, "--party", origin, "--signature", signature)
    assert json.loads(run(home, "contract", "show", cid).stdout)["status"] == "active"
    # Every command that wrote left a checkpoint behind it.
    assert "not yet under a checkpoint" not in run(home, "verify", "--quick").output

    withdrawn = run(home, "dataset", "withdraw", ds, "--reason", "retired", "--as", "sam")
    assert f"active contracts still cover it: {cid}" in withdrawn.output
    ended = run(home, "contract", "terminate", cid, "--reason", "over", "--as", "sam").output
    assert f"Terminated {cid} v1" in ended
