"""conformance.run.junit: a JUnit XML file of the suite names each test case's clause, backend and device."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.helpers import run_python


def test_junit_xml_of_the_suite_names_each_testcase_clause(tmp_path: Path) -> None:
    args = ["-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-q"]
    args += ["--blockspec-backend", "reference", "--blockspec-profile", "fast", "--blockspec-clause", "SEQ-INDEX"]
    proc = run_python([*args, "--junitxml", str(tmp_path / "junit.xml")], tmp_path)
    assert proc.returncode == 0, (
        f"observed exit status {proc.returncode}; expected 0\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    props = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    assert props and all(p.get("clause") == "SEQ-INDEX" for p in props), f"observed testcase properties {props}"
    assert all(p.get("backend") == "reference" and p.get("device") == "cpu" for p in props), f"observed {props}"
