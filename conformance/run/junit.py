"""JUnit XML of a run, built from its outcomes (so tests of a crashed child are in it too).

Each testcase carries its clause, backend and device as properties, like
pytest's own ``--junitxml`` output of the suite. Whatever a message holds
(ANSI escapes, NUL, lone surrogates), the document is well-formed XML 1.0:
characters XML cannot carry are written as ``\\x1b``-style escapes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from conformance.run.result import TestOutcome
from conformance.run.status import Outcome

# Characters outside XML 1.0's Char production (and lone surrogates, which no encoding carries).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot hold replaced by a visible escape."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def junit_document(outcomes: Sequence[tuple[str, TestOutcome]], backend: str, device: str) -> str:
    """The JUnit XML document of ``(clause, outcome)`` pairs."""
    suite = ET.Element("testsuite", name="blockspec")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for clause, outcome in outcomes:
        module, _, name = outcome.nodeid.partition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_safe(module.removesuffix(".py").replace("/", ".")),
            name=xml_safe(name),
            time=f"{outcome.duration_s:.3f}",
        )
        properties = ET.SubElement(case, "properties")
        for key, value in (("clause", clause), ("backend", backend), ("device", device)):
            ET.SubElement(properties, "property", name=key, value=xml_safe(value))
        counts["tests"] += 1
        message = xml_safe(outcome.message)
        first_line = message.partition("\n")[0]
        if outcome.outcome == Outcome.FAILED:
            ET.SubElement(case, "failure", message=first_line).text = message
            counts["failures"] += 1
        elif outcome.outcome == Outcome.ERROR:
            ET.SubElement(case, "error", message=first_line).text = message
            counts["errors"] += 1
        elif outcome.outcome != Outcome.PASSED:
            kind = Outcome(outcome.outcome).value
            ET.SubElement(case, "skipped", type=kind, message=f"{kind}: {first_line}")
            counts["skipped"] += 1
    for key, count in counts.items():
        suite.set(key, str(count))
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
