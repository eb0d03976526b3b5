#!/usr/bin/env python3
"""Static checks of terraform/ where `terraform validate` cannot run (its providers
are not reachable here): every .tf file parses (python-hcl2), every `var.X` a module
uses is declared in it, and every module call passes only variables the called module
declares and all of those it requires (no default). Exits 1 listing every problem."""

import io
import pathlib
import re
import sys

import hcl2

META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
VAR_REFERENCE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")


def unquote(value):
    return value[1:-1] if isinstance(value, str) and value.startswith('"') else value


class Module:
    def __init__(self, directory):
        self.directory = directory
        self.variables = {}  # name -> has a default
        self.calls = []  # (file, name, arguments)
        self.references = []  # (file, variable)
        self.problems = []
        for path in sorted(directory.glob("*.tf")):
            text = path.read_text()
            try:
                parsed = hcl2.load(io.StringIO(text))
            except Exception as err:  # the parser's own errors name line and column
                self.problems.append(f"{path}: does not parse: {err}")
                continue
            for block in parsed.get("variable", []):
                for name, body in block.items():
                    self.variables[unquote(name)] = "default" in body
            for block in parsed.get("module", []):
                for name, body in block.items():
                    self.calls.append((path, unquote(name), body))
            for match in VAR_REFERENCE.finditer(text):
                self.references.append((path, match.group(1)))

    def check(self):
        problems = list(self.problems)
        for path, name in self.references:
            if name not in self.variables:
                problems.append(f"{path}: var.{name} is used but not declared in {self.directory}")
        for path, name, body in self.calls:
            source = unquote(body.get("source", ""))
            if not source.startswith("./") and not source.startswith("../"):
                continue
            target = (self.directory / source).resolve()
            if not target.is_dir():
                problems.append(f'{path}: module "{name}": source {source} is not a directory')
                continue
            called = Module(target)
            passed = {key for key in body if key not in META_ARGUMENTS and not key.startswith("__")}
            for key in sorted(passed - called.variables.keys()):
                problems.append(f'{path}: module "{name}" passes {key}, which {source} does not declare')
            required = {key for key, has_default in called.variables.items() if not has_default}
            for key in sorted(required - passed):
                problems.append(f'{path}: module "{name}" does not pass {key}, which {source} requires')
        return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "terraform")
    directories = sorted({path.parent for path in root.rglob("*.tf")})
    if not directories:
        print(f"no .tf files under {root}", file=sys.stderr)
        return 1
    problems = []
    files = 0
    for directory in directories:
        module = Module(directory)
        files += len(list(directory.glob("*.tf")))
        problems.extend(module.check())
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"terraform: {files} files in {len(directories)} modules parse; variables and module inputs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
