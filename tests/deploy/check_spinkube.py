#!/usr/bin/env python3
"""Checks deploy/spinkube/spinapp.yaml as the cluster would, and against the app.

* It validates against the SpinApp CRD's OpenAPI schema (vendored beside this
  file), strictly as `kubectl apply --validate=strict` does: a field the
  schema does not know is an error, not something silently pruned.
* Every variable it sets is one spin.toml declares, and every variable
  spin.toml marks secret comes from a Kubernetes secret, never a literal.
* Its key-value stores are those of deploy/runtime-config.toml, with the
  same types, and every option's value comes from a secret.
* The checker itself can fail: a manifest with a wrong type and an unknown
  field is refused.

Run by scripts/test with the venv scripts/setup installs:
    target/schemathesis-venv/bin/python tests/deploy/check_spinkube.py
"""

import copy
import pathlib
import sys
import tomllib

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD = pathlib.Path(__file__).with_name("core.spinkube.dev_spinapps.yaml")
MANIFEST = ROOT / "deploy" / "spinkube" / "spinapp.yaml"


def strict(schema):
    """The schema with unknown properties refused wherever it lists some."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def validator():
    crd = yaml.safe_load(CRD.read_text())
    group = crd["spec"]["group"]
    version = next(v for v in crd["spec"]["versions"] if v["served"] and v["storage"])
    schema = strict(version["schema"]["openAPIV3Schema"])
    # The API server checks these before the schema.
    schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
    schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    return jsonschema.Draft7Validator(schema)


def errors(check, document):
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in check.iter_errors(document))


def from_secret(entry):
    return set((entry.get("valueFrom") or {}).keys()) == {"secretKeyRef"} and "value" not in entry


def main():
    check = validator()
    app = yaml.safe_load(MANIFEST.read_text())
    problems = errors(check, app)

    spin = tomllib.loads((ROOT / "spin.toml").read_text())
    declared = spin["variables"]
    for variable in app["spec"].get("variables", []):
        name = variable["name"]
        if name not in declared:
            problems.append(f"variable {name}: spin.toml declares no such variable")
        elif declared[name].get("secret") and not from_secret(variable):
            problems.append(f"variable {name}: secret in spin.toml, so it must come from a secretKeyRef")

    runtime = tomllib.loads((ROOT / "deploy" / "runtime-config.toml").read_text())
    stores = {s["name"]: s for s in app["spec"].get("runtimeConfig", {}).get("keyValueStores", [])}
    expected = runtime.get("key_value_store", {})
    if {name: s["type"] for name, s in stores.items()} != {name: s["type"] for name, s in expected.items()}:
        problems.append(f"key-value stores {sorted(stores)} differ from deploy/runtime-config.toml's {sorted(expected)}")
    for name, store in stores.items():
        for option in store.get("options", []):
            if not from_secret(option):
                problems.append(f"key-value store {name}: option {option['name']} must come from a secretKeyRef")

    broken = copy.deepcopy(app)
    broken["spec"]["replicas"] = "three"
    broken["spec"]["variables"][0]["valueFrom"]["secretKeyRef"]["nmae"] = "typo"
    refused = errors(check, broken)
    if not any("replicas" in e for e in refused) or not any("nmae" in e for e in refused):
        problems.append(f"the checker let a broken manifest through: {refused}")

    if problems:
        print(f"{MANIFEST.relative_to(ROOT)}:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"{MANIFEST.relative_to(ROOT)}: valid SpinApp ({len(app['spec']['variables'])} variables, stores {sorted(stores)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
