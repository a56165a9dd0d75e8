"""The dataset profiler: fingerprint, counts, identifier scan, errors, CLI, bounded memory."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import tracemalloc
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from consortium import __version__
from consortium.cli.profile import profile as profile_command
from consortium.crypto.canonical import canonical_bytes
from consortium.profile import (
    KINDS,
    Profile,
    ProfileError,
    cn_resident_id_valid,
    nhs_number_valid,
    profile_file,
)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def findings(profile: Profile) -> dict[tuple[str, str], tuple[int, tuple[str, ...]]]:
    return {(f.column, f.kind): (f.count, f.examples) for f in profile.findings}


def walk(value: Any) -> list[Any]:
    """Every scalar in a JSON-like value."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in walk(v)] + list(value)
    if isinstance(value, list):
        return [x for v in value for x in walk(v)]
    return [value]


# --- fingerprint and counts -------------------------------------------------------------------


def test_fingerprint_is_sha256_of_the_exact_bytes(tmp_path: Path) -> None:
    data = "\ufeffid,score\r\n1,3\r\n2,\r\n".encode() + b"3,4"  # BOM, CRLF, no final newline
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    result = profile_file(path)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert result.records == 3


def test_fingerprint_of_gzip_is_of_the_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n3,\n"))
    result = profile_file(path)
    assert result.format == "csv.gz"
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size == path.stat().st_size
    assert [(c.name, c.present) for c in result.columns] == [("a", 2), ("b", 1)]


def test_csv_counts_and_completeness(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "\ufeffid,age,comment\n"
        "1,34,\n"
        '2,,"two\nlines, quoted"\n'
        "\n"  # a blank line is not a record
        "3,51,\n"
        "4,,ok\n",
    )
    summary = profile_file(path).to_summary()
    assert summary["format"] == "csv"
    assert summary["records"] == 4
    assert summary["columns"] == [
        {"name": "id", "present": 4, "completeness": "1.0000"},
        {"name": "age", "present": 2, "completeness": "0.5000"},
        {"name": "comment", "present": 2, "completeness": "0.5000"},
    ]


def test_completeness_rounds_down_so_one_means_all(tmp_path: Path) -> None:
    # 29,999 of 30,000 present: 0.99997 must not read as complete
    path = write(tmp_path / "d.csv", "x,y\n" + "1,a\n" * 29_999 + ",a\n")
    column = profile_file(path).to_summary()["columns"][0]
    assert column["present"] == 29_999
    assert column["completeness"] == "0.9999"


def test_jsonl_counts_union_of_keys_missing_and_nested(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        '{"id": 1, "dx": "E11.9", "labs": {"hba1c": 7.1}}\n'
        '{"id": 2, "dx": null, "extra": ""}\n'
        "\n"
        '{"id": 3, "labs": [], "extra": false}\n',
    )
    summary = profile_file(path).to_summary()
    assert summary["format"] == "jsonl"
    assert summary["records"] == 3
    assert summary["columns"] == [
        {"name": "id", "present": 3, "completeness": "1.0000"},
        {"name": "dx", "present": 1, "completeness": "0.3333"},
        {"name": "labs", "present": 2, "completeness": "0.6666"},
        {"name": "extra", "present": 1, "completeness": "0.3333"},
    ]


def test_empty_file(tmp_path: Path) -> None:
    summary = profile_file(write(tmp_path / "d.csv", "")).to_summary()
    assert summary["records"] == 0
    assert summary["columns"] == []
    assert summary["direct_identifiers_found"] is False


def test_summary_is_plain_json_without_floats_and_canonicalises(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "name,score\nAda Lovelace,1.5\n,2.25\n")
    summary = profile_file(path).to_summary()
    assert set(summary) == {
        "format",
        "sha256",
        "bytes",
        "records",
        "columns",
        "identifier_findings",
        "direct_identifiers_found",
        "profiler",
        "dialect",
    }
    assert summary["profiler"] == f"consortium {__version__}"
    assert summary["dialect"] == {"delimiter": ",", "quotechar": '"', "detected": True}
    assert all(type(x) in (str, int, bool) for x in walk(summary))
    assert json.loads(json.dumps(summary)) == summary
    assert canonical_bytes(summary)


def test_progress_is_reported_about_every_mebibyte(tmp_path: Path) -> None:
    line = "12345,some text here,2024-01-01\n"
    path = write(tmp_path / "d.csv", "a,b,c\n" + line * (3_500_000 // len(line)))
    size = path.stat().st_size
    calls: list[tuple[int, int]] = []
    profile_file(path, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (size, size)
    assert len(calls) >= 3
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert all(b - a >= 1 << 20 for a, b in pairwise(done[:-1]))  # the last is the end


# --- identifiers --------------------------------------------------------------------------------

# (value as written, kind, a form of the identifier that must never appear in the summary)
IDENTIFIERS = [
    ("jane.doe@example.org", "email", "jane.doe"),
    ("+44 7700 900123", "phone", "7700 900123"),
    ("+447700900123", "phone", "7700900123"),
    ("020 7946 0958", "phone", "7946 0958"),
    ("(212) 555-0142", "phone", "555-0142"),
    ("13800138000", "phone", "13800138000"),
    ("11010519491231002X", "cn_resident_id", "0519491231"),
    ("123-45-6789", "us_ssn", "45-6789"),
    ("943 476 5919", "nhs_number", "476 5919"),
    ("9434765919", "nhs_number", "34765919"),
    ("E12345678", "passport", "12345678"),
    ("MRN 20481234", "mrn", "20481234"),
    ("GB82 WEST 1234 5698 7654 32", "iban", "WEST 1234"),
    ("DE89370400440532013000", "iban", "370400440532"),
]


@pytest.mark.parametrize(("value", "kind", "secret"), IDENTIFIERS)
def test_each_identifier_kind_is_found_and_masked(
    tmp_path: Path, value: str, kind: str, secret: str
) -> None:
    rows = [f'{i},stable,"{value}","see {value} today"' for i in range(3)]
    path = write(tmp_path / "d.csv", "id,status,value,note\n" + "\n".join(rows) + "\n")
    result = profile_file(path)
    found = findings(result)
    assert set(found) == {("value", kind), ("note", kind)}
    for column in ("value", "note"):
        count, examples = found[(column, kind)]
        assert count == 3
        assert len(examples) == 1  # three identical values mask alike
        assert "*" in examples[0]
    text = json.dumps(result.to_summary(), ensure_ascii=False)
    assert value not in text
    assert secret not in text
    assert result.to_summary()["direct_identifiers_found"] is True


def test_masks_keep_format_only(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "note\njane.doe@example.org\n+44 7700 900123\n943 476 5919\n",
    )
    examples = {kind: ex for (_, kind), (_, ex) in findings(profile_file(path)).items()}
    assert examples == {
        "email": ("j***@e***.org",),
        "phone": ("+44 **** ***123",),
        "nhs_number": ("*** *** **19",),
    }


def test_a_value_counts_once_per_kind_and_examples_are_capped(tmp_path: Path) -> None:
    emails = [f"{c}ser@example.org and again {c}ser@example.org" for c in "abcdefghijklmnopqrst"]
    path = write(tmp_path / "d.csv", "note\n" + "\n".join(emails) + "\n")
    count, examples = findings(profile_file(path, sample_findings=3))[("note", "email")]
    assert count == 20
    assert len(examples) == 3
    assert len(set(examples)) == 3  # distinct masks only
    count, examples = findings(profile_file(path, sample_findings=0))[("note", "email")]
    assert (count, examples) == (20, ())


# --- CSV dialects and hospital record numbers ---------------------------------------------------

VISITS = [
    ["hospital_no", "contact", "note", "bmi"],
    ["RGH-10421", "ann@example.org", "seen; stable, well", "31,2"],
    ["RGH-10422", "bob@example.org", 'said "fine"', "28,4"],
    ["RGH-10423", "", "", ""],
]


def _dialect_file(path: Path, delimiter: str, quotechar: str) -> Path:
    """VISITS written as a spreadsheet or database would export them with this dialect."""

    def field(value: str) -> str:
        if any(ch in value for ch in (delimiter, quotechar, '"', ",", ";")):
            return quotechar + value.replace(quotechar, quotechar * 2) + quotechar
        return value

    return write(path, "".join(delimiter.join(map(field, row)) + "\r\n" for row in VISITS))


@pytest.mark.parametrize("quotechar", ['"', "'"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_every_dialect_gives_the_same_profile_and_names_itself(
    tmp_path: Path, delimiter: str, quotechar: str
) -> None:
    result = profile_file(_dialect_file(tmp_path / "visits.csv", delimiter, quotechar))
    assert result.dialect is not None
    assert (result.dialect.delimiter, result.dialect.quotechar) == (delimiter, quotechar)
    assert result.to_summary()["dialect"] == {
        "delimiter": delimiter,
        "quotechar": quotechar,
        "detected": True,
    }
    assert [(c.name, c.present) for c in result.columns] == [
        ("hospital_no", 3),
        ("contact", 2),
        ("note", 2),
        ("bmi", 2),
    ]
    assert findings(result) == {
        ("hospital_no", "mrn"): (3, ("RGH-***21", "RGH-***22", "RGH-***23")),
        ("contact", "email"): (2, ("a***@e***.org", "b***@e***.org")),
    }


def test_a_dialect_detected_from_the_first_lines_holds_for_the_whole_file(tmp_path: Path) -> None:
    # Rows past the sample, and a quoted field with a line break across the sample's end.
    row = "SK-{:06d};ward 3;{};note\r\n"
    body = "".join(row.format(i, "x" * (i % 40)) for i in range(4000))
    text = "study_key;ward;filler;remark\r\n" + body + 'SK-999999;ward 3;"a\r\nb";x\r\n'
    result = profile_file(write(tmp_path / "d.csv", text))
    assert result.dialect is not None and result.dialect.delimiter == ";"
    assert result.records == 4001
    assert result.findings == ()  # study keys are pseudonyms, not record numbers


def test_the_dialect_can_be_given(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a;b,c\n1;2,3\n4;5,6\n")
    assert [c.name for c in profile_file(path).columns] == ["a;b", "c"]  # fits both; comma first
    given = profile_file(path, delimiter=";")
    assert [c.name for c in given.columns] == ["a", "b,c"]
    assert given.to_summary()["dialect"] == {"delimiter": ";", "quotechar": '"', "detected": True}
    both = profile_file(path, delimiter=";", quotechar='"').to_summary()["dialect"]
    assert both["detected"] is False
    tsv = write(tmp_path / "d.tsv", "a\tb\n1\t2\n")
    assert [c.name for c in profile_file(tsv).columns] == ["a", "b"]
    with pytest.raises(ProfileError, match="unsupported delimiter ':'"):
        profile_file(path, delimiter=":")
    with pytest.raises(ProfileError, match="CSV files only"):
        profile_file(write(tmp_path / "d.jsonl", '{"a": 1}\n'), delimiter=";")


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("RGH-10421", True),
        ("KCH0048213", True),
        ("seen under RGH-10421 in May", True),
        ("SK-2024", False),  # four digits: a year, a ward, a code
        ("AB1234567", False),  # a passport number's shape, reported as one
        ("NCT01234567", False),  # a clinical trial
        ("ISO-27001", False),
        ("rgh-10421", False),
        ("XRGH-10421", True),
        ("A-RGH-10421", False),
    ],
)
def test_a_sites_record_numbers_are_likely_mrns(tmp_path: Path, value: str, found: bool) -> None:
    path = write(tmp_path / "d.csv", f'ref,other\n"{value}",1\n')
    kinds = {kind for (_, kind) in findings(profile_file(path))}
    assert ("mrn" in kinds) is found


def test_pseudonym_columns_keep_their_site_style_codes(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "study_key,PatientNumber\nSK-000184,RGH-10421\n")
    assert set(findings(profile_file(path))) == {("PatientNumber", "mrn")}


def test_check_digits() -> None:
    assert nhs_number_valid("9434765919")
    assert nhs_number_valid("4010232137")
    assert not nhs_number_valid("9434765918")  # last digit off by one
    assert not nhs_number_valid("943476591")
    assert not nhs_number_valid("94347659l9")
    # remainder 1 would need check digit 10: no number with these nine digits is valid
    assert not any(nhs_number_valid(f"400000008{d}") for d in range(10))
    assert cn_resident_id_valid("11010519491231002X")
    assert cn_resident_id_valid("11010519491231002x")
    assert not cn_resident_id_valid("110105194912310021")  # wrong check character
    assert not cn_resident_id_valid("110105194913310024")  # month 13
    assert not cn_resident_id_valid("11010519491231002")


def test_numbers_failing_their_check_are_not_identifiers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "a,b,c\n9434765918,110105194912310021,666-12-3456\n"
        "9434765917,110105194912310022,123-00-4567\n",
    )
    assert profile_file(path).findings == ()


def test_ordinary_clinical_values_are_not_identifiers(tmp_path: Path) -> None:
    rng = random.Random(3)
    header = (
        "subject_id,visit_date,collected_at,height_cm,ldl,icd10,drug_name,site_name,"
        "order_no,epoch_ms,bp,comment"
    )
    rows = [
        ",".join(
            [
                f"P{rng.randrange(10**6):07d}",  # zero-padded study ID, not a passport
                f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                f"2024-03-01T10:{rng.randrange(60):02d}:00",
                f"{rng.uniform(140, 200):.1f}",
                f"{rng.uniform(1, 6):.2f}",
                rng.choice(["E11.9", "I10", "J45.909"]),
                rng.choice(["metformin", "atorvastatin"]),
                "Leeds General",
                str(rng.randrange(10**9, 10**10)),  # ten digits: about 1 in 11 pass mod 11
                str(rng.randrange(10**12, 10**13)),
                f"{rng.randrange(90, 180)}/{rng.randrange(50, 110)}",
                "BP recheck 2024-03-01 10:30; dose 2.5 mg",
            ]
        )
        for _ in range(3000)
    ]
    path = write(tmp_path / "d.csv", header + "\n" + "\n".join(rows) + "\n")
    assert profile_file(path).findings == ()


def test_a_column_of_nhs_numbers_is_reported_despite_some_typos(tmp_path: Path) -> None:
    rng = random.Random(5)
    numbers = []
    while len(numbers) < 1500:
        candidate = str(rng.randrange(4 * 10**9, 8 * 10**9))
        if nhs_number_valid(candidate):
            numbers.append(candidate)
    numbers[::10] = ["4010232138"] * len(numbers[::10])  # every tenth mistyped
    path = write(tmp_path / "d.csv", "ref\n" + "\n".join(numbers) + "\n")
    count, _ = findings(profile_file(path))[("ref", "nhs_number")]
    assert count == 1350


def test_column_names_flag_identifiers_with_masked_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "Patient Name,surname,DOB,home_address,drug_name,mrn\n"
        "Ada Lovelace,Lovelace,1815-12-10,12 St James's Square,metformin,A-77\n"
        ",,,,,\n",
    )
    found = findings(profile_file(path))
    assert found == {
        ("Patient Name", "name"): (1, ("A*** L***",)),
        ("surname", "name"): (1, ("L***",)),
        ("DOB", "birth_date"): (1, ("****-**-**",)),
        ("home_address", "address"): (1, ("** ** J***'* S***",)),
        ("mrn", "mrn"): (1, ("*-**",)),
    }
    assert "Lovelace" not in json.dumps(profile_file(path).to_summary())


def test_jsonl_identifiers_in_numbers_and_nested_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        '{"id": 1, "nhs": 9434765919, "contact": {"email": "jane.doe@example.org"}}\n'
        '{"id": 2, "contact": {"phones": ["+44 7700 900123"]}}\n',
    )
    found = findings(profile_file(path))
    assert found[("nhs", "nhs_number")][0] == 1
    assert found[("contact", "email")][0] == 1
    assert found[("contact", "phone")][0] == 1
    text = json.dumps(profile_file(path).to_summary())
    assert "jane.doe" not in text
    assert "9434765919" not in text


def test_kinds_listed_are_the_kinds_reported() -> None:
    assert {kind for _, kind, _ in IDENTIFIERS} <= set(KINDS)


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("d.csv", b"a,b\n1,2\n3\n", "line 3: 1 fields where the header has 2"),
        ("d.csv", b'a,b\n1,"x\ny"\n1,2,3\n', "line 4: 3 fields"),
        ("d.csv", b"a,b\n1,2\n3,\xff\xfe\n", "line 3: not valid UTF-8"),
        ("d.csv", b"a,b\n" + b"1,2\n" * 300_000 + b"\xc3(,1\n", "line 300002: not valid UTF-8"),
        ("d.csv", b'a,b\n1,"open\n2,3\n', "line 3: malformed CSV (the file ends inside a quoted"),
        ("d.csv", b'a,b\n"x"y,1\n', "line 2: malformed CSV"),
        ("d.csv", b"a,a\n1,2\n", "line 1: column name 'a' appears twice"),
        ("d.jsonl", b'{"a": 1}\n{"a": \n', "line 2: invalid JSON"),
        ("d.jsonl", b'{"a": 1}\n\n[1, 2]\n', "line 3: expected a JSON object"),
        ("d.jsonl", b'{"a": 1}\n{"a": "\xff"}\n', "line 2: not valid UTF-8"),
        ("d.csv.gz", b"not gzip at all", "Not a gzipped file"),
        ("d.xlsx", b"", "unsupported file type"),
    ],
)
def test_malformed_input_is_a_one_line_profile_error(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ProfileError) as info:
        profile_file(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot read .*No such file"):
        profile_file(tmp_path / "nope.csv")


# --- bounded memory ----------------------------------------------------------------------------


def test_memory_stays_bounded_on_a_large_file(tmp_path: Path) -> None:
    # Long values keep the test quick: tracemalloc slows down every allocation, and the
    # number of allocations follows the number of cells, not of bytes.
    rng = random.Random(1)
    words = [
        "patient",
        "reports",
        "stable",
        "symptoms",
        "dose",
        "reduced",
        "recheck",
        "in",
        "three",
        "months",
    ]
    rows = [
        f"P{i:07d},{rng.randrange(10**9, 10**10)},"
        + " ".join(rng.choices(words, k=60))
        + rng.choice(["", " call +44 7700 900123", " NHS 943 476 5919"])
        for i in range(500)
    ]
    block = ("\n".join(rows) + "\n").encode()
    repeats = (50 << 20) // len(block)
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.write(b"id,order_no,note\n")
        for _ in range(repeats):
            fh.write(block)
    tracemalloc.start()
    try:
        result = profile_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.records == 500 * repeats
    assert ("note", "phone") in findings(result)
    assert peak < 4 << 20, f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte file"


# --- command line -----------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(profile_command, list(args), catch_exceptions=False)


@pytest.fixture
def clean_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "clean.csv", "subject,age\nS1,34\nS2,\n")


def test_cli_prints_a_table(clean_csv: Path) -> None:
    result = invoke(str(clean_csv))
    assert result.exit_code == 0, result.output
    assert "2 records" in result.stdout
    assert "subject" in result.stdout
    assert "0.5000" in result.stdout
    assert "No direct identifiers found" in result.stdout


def test_cli_names_the_dialect_and_takes_another(tmp_path: Path) -> None:
    path = _dialect_file(tmp_path / "visits.csv", ";", '"')
    result = invoke(str(path))
    assert result.exit_code == 0, result.output
    assert "visits.csv: csv (semicolon-separated, double-quoted), 3 records" in result.stdout
    assert "RGH-***21" in result.stdout and "RGH-10421" not in result.stdout
    given = invoke(str(path), "--delimiter", "semicolon", "--quote", "double", "--json")
    assert json.loads(given.stdout)["dialect"] == {
        "delimiter": ";",
        "quotechar": '"',
        "detected": False,
    }
    wrong = invoke(str(path), "--delimiter", "tab")  # the whole line is one field
    assert "(tab-separated, double-quoted), 3 records, 1 columns" in wrong.stdout
    assert invoke(str(path), "--delimiter", "colon").exit_code == 2


def test_cli_json_is_the_summary(clean_csv: Path) -> None:
    result = invoke(str(clean_csv), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == profile_file(clean_csv).to_summary()


def test_cli_reports_identifiers_masked(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "note\nmail jane.doe@example.org\n")
    result = invoke(str(path))
    assert result.exit_code == 0, result.output
    assert "j***@e***.org" in result.stdout
    assert "jane.doe" not in result.output


def test_cli_writes_the_summary_file(clean_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "summary.json"
    target.parent.mkdir()
    result = invoke(str(clean_csv), "--output", str(target))
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text()) == profile_file(clean_csv).to_summary()
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_cli_failure_writes_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "a,b\n1,2\n3\n")
    target = tmp_path / "out" / "summary.json"
    target.parent.mkdir()
    result = invoke(str(bad), "--output", str(target), "--json")
    assert result.exit_code == 1
    assert "line 3" in result.output
    assert result.stdout == ""
    assert list(target.parent.iterdir()) == []


def test_cli_failure_leaves_an_earlier_summary_alone(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.jsonl", "{oops\n")
    target = write(tmp_path / "summary.json", '{"earlier": true}\n')
    result = invoke(str(bad), "-o", str(target))
    assert result.exit_code == 1
    assert target.read_text() == '{"earlier": true}\n'


def test_cli_missing_file_and_overwriting_the_data(clean_csv: Path, tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "missing.csv"))
    assert result.exit_code == 1
    assert "cannot read" in result.output
    before = clean_csv.read_bytes()
    result = invoke(str(clean_csv), "--output", str(clean_csv))
    assert result.exit_code == 1
    assert "refusing" in result.output
    assert clean_csv.read_bytes() == before
