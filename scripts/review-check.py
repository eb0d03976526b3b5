#!/usr/bin/env python3
"""The security review as a check: reads checkov's and zizmor's JSON reports (the
files given) and scripts/review-skips, and fails (exit 1) on a finding the skip list
does not accept, on an entry without a reason, and on an entry that matched nothing,
naming each. Usage: review-check.py SKIPS --checkov FILE... --zizmor FILE..."""

import argparse
import json
import re
import sys
from dataclasses import dataclass, field


@dataclass
class Entry:
    line: int
    tool: str
    check: str
    where: str
    reason: str
    used: int = field(default=0)

    def matches(self, tool, check, where):
        pattern = "^" + ".*".join(map(re.escape, self.where.split("*"))) + "$"
        return self.tool == tool and self.check == check and re.match(pattern, where) is not None


def read_skips(path):
    entries, problems = [], []
    with open(path, encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 3)
            if len(parts) < 4 or len(parts[3].split()) < 3:
                problems.append(f"{path}:{number}: an entry needs TOOL CHECK WHERE and a reason of some words")
                continue
            tool, check, where, reason = parts
            if tool not in ("checkov", "zizmor"):
                problems.append(f"{path}:{number}: unknown tool {tool!r} (checkov or zizmor)")
                continue
            entries.append(Entry(number, tool, check, where, reason))
    return entries, problems


def checkov_findings(path):
    with open(path, encoding="utf-8") as report:
        text = report.read().strip()
    if not text:
        return []
    reports = json.loads(text)
    # One framework gives an object, several a list; a clean run may give a summary only.
    if isinstance(reports, dict):
        reports = [reports]
    found = []
    for report in reports:
        summary = report.get("summary", {})
        kind = report.get("check_type", path)
        # A file checkov could not parse is a file nobody reviewed.
        if summary.get("parsing_errors", 0):
            found.append(("parse", kind, f"checkov could not parse {summary['parsing_errors']} file(s)"))
        if not summary.get("passed", 0) and not summary.get("failed", 0):
            found.append(("empty", kind, "checkov checked nothing"))
        # Skips belong in the skip list, with their reasons, not in the files.
        for skipped in report.get("results", {}).get("skipped_checks", []):
            where = f"{skipped.get('file_path', '')}:{skipped.get('resource', '')}"
            found.append(("inline-skip", where, f"{skipped['check_id']} skipped in the file itself"))
        for failed in report.get("results", {}).get("failed_checks", []):
            where = f"{failed.get('file_path', '')}:{failed.get('resource', '')}"
            found.append((failed["check_id"], where, failed.get("check_name", "")))
    return found


def zizmor_findings(path):
    with open(path, encoding="utf-8") as report:
        findings = json.load(report)
    found = []
    for finding in findings:
        files, rows = set(), set()
        for location in finding.get("locations", []):
            key = location.get("symbolic", {}).get("key", {})
            local = key.get("Local", {}) if isinstance(key, dict) else {}
            file = local.get("verbatim_path") or local.get("given_path")
            if file:
                files.add(file)
            row = location.get("concrete", {}).get("location", {}).get("start_point", {}).get("row")
            if row is not None:
                rows.add(row + 1)
        where = ",".join(sorted(files)) or "?"
        lines = ", line " + ", ".join(map(str, sorted(rows))) if rows else ""
        found.append((finding["ident"], where, f"{finding.get('desc', '')}{lines}"))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("skips")
    parser.add_argument("--checkov", nargs="*", default=[])
    parser.add_argument("--zizmor", nargs="*", default=[])
    args = parser.parse_args()
    entries, problems = read_skips(args.skips)
    counts = {"checkov": 0, "zizmor": 0}
    accepted = 0
    for tool, paths, read in (("checkov", args.checkov, checkov_findings), ("zizmor", args.zizmor, zizmor_findings)):
        for path in paths:
            for check, where, what in read(path):
                counts[tool] += 1
                entry = next((entry for entry in entries if entry.matches(tool, check, where)), None)
                if entry is None:
                    problems.append(f"{tool} {check} {where}: {what} (fix it, or add it to {args.skips} with its reason)")
                else:
                    entry.used += 1
                    accepted += 1
    for entry in entries:
        if entry.used == 0:
            problems.append(
                f"{args.skips}:{entry.line}: {entry.tool} {entry.check} {entry.where} matches no finding any more: remove it"
            )
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"review: checkov and zizmor found {counts['checkov']} and {counts['zizmor']} things, "
        f"all {accepted} accepted by the {len(entries)} reasoned entries of {args.skips}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
