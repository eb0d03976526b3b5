#!/usr/bin/env python3
"""Static checks of terraform/ where `terraform validate` cannot run (its providers
are not reachable here): every .tf file parses (python-hcl2); every `var.X` and
`local.X` a module uses, and every variable its *.tfvars.example sets, is declared in
it; every module call passes only variables the called module declares and all of
those it requires (no default); and every `module.NAME.OUTPUT` names a module call of
the same module and an output the called module declares. Exits 1 listing every
problem."""

import io
import pathlib
import re
import sys

import hcl2

META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
VAR_REFERENCE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
LOCAL_REFERENCE = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
# module.NAME, module.NAME.OUTPUT, module.NAME[index].OUTPUT, module.NAME[*].OUTPUT
MODULE_REFERENCE = re.compile(
    r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_][A-Za-z0-9_-]*))?"
)


def unquote(value):
    return value[1:-1] if isinstance(value, str) and value.startswith('"') else value


class Module:
    def __init__(self, directory):
        self.directory = directory
        self.variables = {}  # name -> has a default
        self.locals = set()
        self.outputs = set()
        self.calls = []  # (file, name, arguments)
        self.references = []  # (file, variable)
        self.local_references = []  # (file, local)
        self.module_references = []  # (file, module call, output or None)
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
            for block in parsed.get("locals", []):
                self.locals.update(key for key in block if not key.startswith("__"))
            for block in parsed.get("output", []):
                self.outputs.update(unquote(name) for name in block)
            for block in parsed.get("module", []):
                for name, body in block.items():
                    self.calls.append((path, unquote(name), body))
            for match in VAR_REFERENCE.finditer(text):
                self.references.append((path, match.group(1)))
            for match in LOCAL_REFERENCE.finditer(text):
                self.local_references.append((path, match.group(1)))
            for match in MODULE_REFERENCE.finditer(text):
                self.module_references.append((path, match.group(1), match.group(2)))

    def check(self):
        problems = list(self.problems)
        # Example variable files set only variables the module declares.
        for path in sorted(self.directory.glob("*.tfvars.example")):
            try:
                values = hcl2.load(io.StringIO(path.read_text()))
            except Exception as err:
                problems.append(f"{path}: does not parse: {err}")
                continue
            for name in sorted(key for key in values if not key.startswith("__")):
                if name not in self.variables:
                    problems.append(f"{path}: sets {name}, which {self.directory} does not declare")
        for path, name in self.references:
            if name not in self.variables:
                problems.append(f"{path}: var.{name} is used but not declared in {self.directory}")
        for path, name in self.local_references:
            if name not in self.locals:
                problems.append(f"{path}: local.{name} is used but not declared in {self.directory}")
        called_modules = {}  # call name -> Module, for local sources that exist
        for path, name, body in self.calls:
            source = unquote(body.get("source", ""))
            if not source.startswith("./") and not source.startswith("../"):
                continue
            target = (self.directory / source).resolve()
            if not target.is_dir():
                problems.append(f'{path}: module "{name}": source {source} is not a directory')
                continue
            called = Module(target)
            called_modules[name] = called
            passed = {key for key in body if key not in META_ARGUMENTS and not key.startswith("__")}
            for key in sorted(passed - called.variables.keys()):
                problems.append(f'{path}: module "{name}" passes {key}, which {source} does not declare')
            required = {key for key, has_default in called.variables.items() if not has_default}
            for key in sorted(required - passed):
                problems.append(f'{path}: module "{name}" does not pass {key}, which {source} requires')
        call_names = {name for _, name, _ in self.calls}
        for path, name, output in self.module_references:
            if name not in call_names:
                problems.append(f"{path}: module.{name} is used but there is no module \"{name}\" in {self.directory}")
            elif output is not None and name in called_modules and output not in called_modules[name].outputs:
                problems.append(
                    f"{path}: module.{name}.{output} is used but {called_modules[name].directory} has no output {output}"
                )
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
    print(
        f"terraform: {files} files in {len(directories)} modules parse; "
        "variables, locals, module inputs and module outputs agree"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
