#!/usr/bin/env python3
"""Static checks of terraform/ where `terraform validate` cannot run (its providers
are not reachable here): every .tf file parses (python-hcl2); every `var.X` and
`local.X` a module uses, and every variable its *.tfvars.example sets, is declared in
it; every module call passes only variables the called module declares and all of
those it requires (no default); and every `module.NAME.OUTPUT` names a module call of
the same module and an output the called module declares.

Then the wiring of the root module (the directory given) to the application: every
environment variable it gives the ECS tasks, in the `environment` and `secrets` of the
module calls (the services) and of its task definitions' containers, is a setting
docs/CONFIGURATION.md documents (`NAME` in backticks). The names are the keys of the
maps those are built from, followed through the locals they name (and those locals'
merge() and conditionals) down to map literals; local.common_environment,
local.database_secret, local.admin_secret and every other local named *_secret or
*_secrets must reach the tasks, and no name may be both a plain variable and a secret.
And the MSK module's bootstrap_brokers, security_protocol, sasl_mechanism and
scram_secret_arn must each reach the tasks the same way (named in one of those locals
or expressions), so that kafka_mode = "msk" hands them over. Exits 1 listing every
problem.

And the deploy review's items checkov cannot see (terraform_review.py): alarms,
routes, timeouts, hosts, state, image tag, database roles, the deploy role against
the workflow."""

import io
import pathlib
import re
import sys

import hcl2

import terraform_review

META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
VAR_REFERENCE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
LOCAL_REFERENCE = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
# module.NAME, module.NAME.OUTPUT, module.NAME[index].OUTPUT, module.NAME[*].OUTPUT
MODULE_REFERENCE = re.compile(
    r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_][A-Za-z0-9_-]*))?"
)
# An environment variable as an object key in an expression python-hcl2 keeps as text
# (`NAME = value`; not `==` or `=>`, not inside a string or an attribute).
ENVIRONMENT_KEY = re.compile(r'(?<![\w."])([A-Z][A-Z0-9_]*)\s*=(?![=>])')
# What a container definition's list is made from: `environment = [for k, v in EXPR : …]`.
CONTAINER_LIST = re.compile(r"\b(environment|secrets)\s*=\s*\[for [^:]*? in (.*?) :")
ENVIRONMENT_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
DOCUMENTED_SETTING = re.compile(r"`([A-Z][A-Z0-9_]*)`")
TASK_MAPS = ("common_environment", "database_secret", "admin_secret")
MSK_OUTPUTS = ("bootstrap_brokers", "security_protocol", "sasl_mechanism", "scram_secret_arn")


def unquote(value):
    return value[1:-1] if isinstance(value, str) and value.startswith('"') else value


class Module:
    def __init__(self, directory):
        self.directory = directory
        self.variables = {}  # name -> has a default
        self.locals = set()
        self.local_values = {}  # name -> value as python-hcl2 gives it
        self.resources = []  # (type, name, body)
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
                self.local_values.update((key, value) for key, value in block.items() if not key.startswith("__"))
            for block in parsed.get("resource", []):
                for kind, named in block.items():
                    for name, body in named.items():
                        self.resources.append((unquote(kind), unquote(name), body))
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


def task_settings(module):
    """The environment variable names the module gives its tasks, as (plain, secret,
    locals they were found through, the text of every expression followed)."""
    expressions = {"environment": [], "secrets": []}
    for _, _, body in module.calls:
        for kind, found in expressions.items():
            if isinstance(body.get(kind), str):
                found.append(body[kind])
    for kind, _, body in module.resources:
        if kind == "aws_ecs_task_definition" and isinstance(body.get("container_definitions"), str):
            for key, expression in CONTAINER_LIST.findall(body["container_definitions"]):
                expressions[key].append(expression)
    keys = {}  # local followed -> the names in it

    def names(expression):
        found = set(ENVIRONMENT_KEY.findall(expression))
        for name in LOCAL_REFERENCE.findall(expression):
            if name in module.local_values and name not in keys:
                keys[name] = set()  # while it is followed: a cycle ends here
                value = module.local_values[name]
                literal = {unquote(key) for key in value if not key.startswith("__")} if isinstance(value, dict) else set()
                if literal and all(ENVIRONMENT_NAME.fullmatch(key) for key in literal):
                    keys[name] = literal  # a map literal of settings: its keys (its values are values)
                else:  # merge(), a conditional, a map by task, …: the keys in it and the locals it names
                    keys[name] = names(str(value))
            found.update(keys.get(name, ()))
        return found

    plain = set().union(*map(names, expressions["environment"]))
    secret = set().union(*map(names, expressions["secrets"]))
    through = set(keys)
    followed = expressions["environment"] + expressions["secrets"]
    followed += [str(module.local_values[name]) for name in sorted(through)]
    return plain, secret, through, followed


def check_wiring(module, documentation):
    """The root module's tasks against the settings the application documents, and its
    use of the MSK module. Returns (problems, what was checked)."""
    problems = []
    plain, secret, through, followed = task_settings(module)
    try:
        documented = set(DOCUMENTED_SETTING.findall(documentation.read_text()))
    except OSError as err:
        return [f"{documentation}: cannot be read ({err}), so the tasks' settings cannot be checked"], ""
    for name in sorted((plain | secret) - documented):
        problems.append(f"{module.directory}: the tasks get {name}, which {documentation} does not document")
    for name in sorted(plain & secret):
        problems.append(f"{module.directory}: the tasks get {name} both as a variable and as a secret")
    secret_maps = {name for name in module.local_values if re.search(r"_secrets?$", name)}
    for name in sorted(set(TASK_MAPS) | secret_maps):
        if name not in through:
            problems.append(f"{module.directory}: local.{name} does not reach the tasks' environment or secrets")
    reaching = {match.groups() for text in followed for match in MODULE_REFERENCE.finditer(text)}
    if "msk" not in {name for _, name, _ in module.calls}:
        problems.append(f'{module.directory}: there is no module "msk"')
    for output in MSK_OUTPUTS:
        if ("msk", output) not in reaching:
            problems.append(f"{module.directory}: module.msk's {output} does not reach the tasks' environment or secrets")
    summary = (
        f"terraform: the tasks' {len(plain)} environment variables and {len(secret)} secrets "
        f"(through local.{', local.'.join(sorted(through & (set(TASK_MAPS) | secret_maps)))}) "
        f"are settings {documentation.name} documents; module.msk's {', '.join(MSK_OUTPUTS)} reach them"
    )
    return problems, summary


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
    documentation = root.resolve().parent / "docs" / "CONFIGURATION.md"
    wiring_problems, wiring = check_wiring(Module(root), documentation)
    problems.extend(wiring_problems)
    review_problems, review = terraform_review.check(root)
    problems.extend(review_problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"terraform: {files} files in {len(directories)} modules parse; "
        "variables, locals, module inputs and module outputs agree"
    )
    print(wiring)
    print(review)
    return 0


if __name__ == "__main__":
    sys.exit(main())
