"""`--format junit`: JUnit XML for CI (GitLab `artifacts:reports:junit`, Jenkins `junit`).

`testsuites` / one `testsuite` per target (plus `host` and `app`) / one `testcase` per
check, classname = `<target>.<check id>`, name = the checklist item. The target is in the
classname because consumers key test cases by it: GitLab keeps one case per (classname,
name), and Jenkins builds its tree from the classname, so with the bare check id the
three `redis.running` cases of three Redis targets collapsed into one. fail -> <failure>,
error -> <error>, skip -> <skipped>; a warn passes with its reading in <system-out>
(or fails, with --fail-on warn). The details go in the element body, where CI shows
them, not only in the message attribute.

The file is valid against the Jenkins xunit-plugin schema (junit-10.xsd, the strictest
common one; tests/data/junit-10.xsd): `skipped` is counted per testsuite only, since
that schema allows no `skipped` attribute on `testsuites`.

Times: a check is a pure function of facts that were collected for all checks at
once, so a testcase takes no measurable time of its own (time="0"); each suite's time
is the sum of its testcases, and the testsuites element carries the run's wall time.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from cachediag.checks.evaluate import Report, Result
from cachediag.render.json_text import to_json
from cachediag.safety.textsafe import safe_text

# Characters XML 1.0 cannot carry at all, even escaped. safe_text already escapes the
# controls; this catches the rest (e.g. U+FFFE, U+FFFF).
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    text = safe_text(str(value))
    return _XML_ILLEGAL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _suite_order(report: Report) -> list[str]:
    names = [t["name"] for t in report.targets]
    for result in report.results:
        if result.target not in names and result.target not in ("host", "app"):
            names.append(result.target)
    present = {r.target for r in report.results}
    return [n for n in [*names, "host", "app"] if n in present]


def _details(result: Result) -> str:
    lines = [result.summary]
    if result.observed:
        lines.append("observed: " + to_json(result.observed, indent=None, sort_keys=True))
    if result.thresholds:
        lines.append("thresholds: " + to_json(result.thresholds, indent=None, sort_keys=True))
    if result.remedy:
        lines.append(f"remedy: {result.remedy}")
    if result.ref:
        lines.append(f"guide: {result.ref}")
    lines.append(f"target: {result.target}")
    # Each line made safe on its own so the newlines between them stay real newlines.
    return "\n".join(xml_text(line) for line in lines)


def classname(result: Result) -> str:
    """`<target>.<check id>`: unique per target, as CI servers key test cases."""
    return xml_text(f"{result.target}.{result.id}")


def _testcase(suite: ET.Element, result: Result, fail_on_warn: bool) -> str:
    """Append the testcase; return which counter it adds to (failures/errors/skipped/passed)."""
    case = ET.SubElement(
        suite, "testcase", classname=classname(result), name=xml_text(result.item), time="0"
    )
    message = xml_text(result.summary)
    details = _details(result)
    if result.status == "fail" or (result.status == "warn" and fail_on_warn):
        element = ET.SubElement(case, "failure", message=message, type=result.status)
        element.text = details
        counter = "failures"
    elif result.status == "error":
        element = ET.SubElement(case, "error", message=message, type="error")
        element.text = details
        counter = "errors"
    elif result.status == "skip":
        element = ET.SubElement(case, "skipped", message=message)
        element.text = details
        counter = "skipped"
    else:
        # A pass or (without --fail-on warn) a warn: the reading goes to the test's output.
        out = ET.SubElement(case, "system-out")
        out.text = f"[{result.status}] {details}"
        counter = "passed"
    return counter


def render(report: Report) -> str:
    root = ET.Element("testsuites", name=f"cachediag check: {xml_text(report.checklist)}")
    kinds = {t["name"]: t for t in report.targets}
    totals = {"tests": 0, "failures": 0, "errors": 0}
    timestamp = report.generated_at.rstrip("Z")  # the JUnit XSD's timestamp has no zone (UTC here)
    for index, name in enumerate(_suite_order(report)):
        results = [r for r in report.results if r.target == name]
        suite = ET.SubElement(
            root, "testsuite", name=xml_text(name), id=str(index), timestamp=timestamp
        )
        props = ET.SubElement(suite, "properties")
        target = kinds.get(name)
        info = (
            {"kind": target["kind"], "status": target["status"], "source": target["source"]}
            if target
            else {"kind": name}
        )
        if name in report.versions:
            info["version"] = report.versions[name]
        for key, value in info.items():
            ET.SubElement(props, "property", name=key, value=xml_text(value))
        counts = {"failures": 0, "errors": 0, "skipped": 0, "passed": 0}
        for result in results:
            counts[_testcase(suite, result, report.fail_on_warn)] += 1
        suite.set("tests", str(len(results)))
        for key in ("failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
        for key in ("failures", "errors"):
            totals[key] += counts[key]
        suite.set("time", "0")
        totals["tests"] += len(results)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{report.duration_ms / 1000:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
