"""Where a CRD's schema and the pydantic models of its spec and status disagree.

The models are the source of every field's type, bounds, pattern, enum, requiredness and default; the CRD (written
by hand, because what it needs beyond the models — CEL rules with their messages, immutability, printer columns,
the status subresource, int-or-string — would be no clearer as Python) must say the same, so that what the API
server admits is what the operator accepts. :func:`crd_disagreements` walks both schemas side by side and names
every difference; the suite runs it over every CRD (``tests/crds``), as Cluster API's ``make verify-gen`` does for
its generated ones.

Spec subtrees are compared in full. Status subtrees only by shape (names and types): the API server prunes a
status field its CRD does not declare, so a field on the model alone is silently lost; bounds, enums and
requiredness there are the operator's own checks on what it writes (the model validates every status first). A
status left ``x-kubernetes-preserve-unknown-fields`` is not compared. A dictionary's key constraints, which a
structural schema cannot state, must be a CEL rule of the CRD that quotes the model's key pattern and length.

Bounds a model enforces in a validator (for a message that says why) are stated in its JSON schema with
``json_schema_extra``, so they are compared too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pydantic

Schema = dict[str, Any]

_BOUNDS = (
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "pattern",
)
_PARSED = frozenset({"ipv4", "ipv6", "ipv4network", "ipv6network", "ipvanyaddress", "ipvanynetwork", "date-time"})
"""Formats pydantic parses into a type of its own: bounded by the parser, so the model states no length; the CRD
must (any), and checks the format with CEL or ``format``."""


def _resolve(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    """The model's node without references, single ``allOf``/``anyOf`` wrappers and the ``null`` of optionals."""
    node = dict(node)
    while "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if len(node.get("allOf", [])) == 1:
        node = {**_resolve(node.pop("allOf")[0], defs), **node}
    if "anyOf" in node:
        branches = [_resolve(b, defs) for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            del node["anyOf"]
            node = {**branches[0], **node}
        else:
            node["anyOf"] = branches
    if "const" in node:
        node["enum"] = [node.pop("const")]
    return node


def _model_type(node: Schema) -> str | None:
    if "anyOf" in node:
        types = {_model_type(branch) for branch in node["anyOf"]}
        if types == {"integer", "string"}:
            return "int-or-string"
        return types.pop() if len(types) == 1 else "|".join(sorted(map(str, types)))
    kind = node.get("type")
    if kind is None and "enum" in node:
        kinds = {type(v).__name__ for v in node["enum"]}
        kind = {"str": "string", "int": "integer", "bool": "boolean"}.get(kinds.pop()) if len(kinds) == 1 else None
    return kind


def _crd_type(node: Schema) -> str | None:
    return "int-or-string" if node.get("x-kubernetes-int-or-string") else node.get("type")


def _parsed(node: Schema) -> bool:
    if "anyOf" in node:
        return all(_parsed(branch) for branch in node["anyOf"])
    return node.get("format") in _PARSED


def _crd_default(node: Schema) -> Any:
    """What the API server stores for an absent field: its default, with its properties' defaults applied."""
    value = node["default"]
    if isinstance(value, dict) and "properties" in node:
        value = dict(value)
        for name, child in node["properties"].items():
            if name not in value and "default" in child:
                value[name] = _crd_default(child)
    return value


def _default_problems(path: str, crd: Any, model: Any) -> list[str]:
    if isinstance(crd, dict) and isinstance(model, dict):
        return [
            problem
            for key, value in crd.items()
            for problem in _default_problems(f"{path}.{key}", value, model.get(key))
        ]
    return [] if crd == model else [f"{path}: default {crd!r} in the CRD, {model!r} in the model"]


def _compare(path: str, crd: Schema, model: Schema, defs: Mapping[str, Schema], *, full: bool) -> list[str]:
    model = _resolve(model, defs)
    if crd.get("x-kubernetes-preserve-unknown-fields") and "properties" not in crd:
        return [] if not full else [f"{path}: the CRD keeps unknown fields; the model declares them"]
    problems: list[str] = []
    crd_type, model_type = _crd_type(crd), _model_type(model)
    if crd_type != model_type:
        return [f"{path}: type {crd_type} in the CRD, {model_type} in the model"]
    if full:
        parsed = _parsed(model)
        for word in _BOUNDS:
            if parsed and word in ("maxLength", "pattern"):
                if word == "maxLength" and word not in crd:
                    problems.append(f"{path}: no maxLength in the CRD")
                continue
            if crd.get(word) != model.get(word):
                problems.append(f"{path}: {word} {crd.get(word)!r} in the CRD, {model.get(word)!r} in the model")
        if "default" in crd:
            problems += _default_problems(path, _crd_default(crd), model.get("default"))
        crd_enum, model_enum = crd.get("enum"), model.get("enum")
        if crd_enum != model_enum and (
            crd_enum is None or model_enum is None or sorted(map(repr, crd_enum)) != sorted(map(repr, model_enum))
        ):
            problems.append(f"{path}: enum {crd_enum!r} in the CRD, {model_enum!r} in the model")
    if crd_type == "array":
        problems += _compare(f"{path}[]", crd.get("items", {}), model.get("items", {}), defs, full=full)
    if crd_type == "object":
        problems += _compare_object(path, crd, model, defs, full=full)
    return problems


def _compare_object(path: str, crd: Schema, model: Schema, defs: Mapping[str, Schema], *, full: bool) -> list[str]:
    problems: list[str] = []
    crd_properties, model_properties = crd.get("properties", {}), model.get("properties", {})
    for name in sorted(crd_properties.keys() - model_properties.keys()):
        problems.append(f"{path}.{name}: in the CRD only")
    for name in sorted(model_properties.keys() - crd_properties.keys()):
        problems.append(f"{path}.{name}: in the model only")
    for name in sorted(crd_properties.keys() & model_properties.keys()):
        problems += _compare(f"{path}.{name}", crd_properties[name], model_properties[name], defs, full=full)
    if full and sorted(crd.get("required", [])) != sorted(model.get("required", [])):
        problems.append(
            f"{path}: required {crd.get('required', [])} in the CRD, {model.get('required', [])} in the model"
        )
    crd_values, model_values = crd.get("additionalProperties"), model.get("additionalProperties")
    keys = _resolve(model.get("propertyNames", {}), defs)
    if len(pattern_values := model.get("patternProperties", {})) == 1:  # pydantic's dict[Annotated key, value]
        ((key_pattern, model_values),) = pattern_values.items()
        keys = {**keys, "pattern": key_pattern}
    if isinstance(crd_values, dict) != isinstance(model_values, dict):
        problems.append(f"{path}: a map in {'the CRD' if isinstance(crd_values, dict) else 'the model'} only")
    elif isinstance(crd_values, dict) and isinstance(model_values, dict):
        problems += _compare(f"{path}{{}}", crd_values, model_values, defs, full=full)
        rules = " ".join(rule.get("rule", "") for rule in crd.get("x-kubernetes-validations", []))
        if full and "pattern" in keys and keys["pattern"] not in rules:
            problems.append(f"{path}: the model's key pattern {keys['pattern']} in no CEL rule of the CRD")
        if full and "maxLength" in keys and f"k.size() <= {keys['maxLength']}" not in rules:
            problems.append(f"{path}: the model's key length {keys['maxLength']} in no CEL rule of the CRD")
    return problems


def crd_schema(crd: Mapping[str, Any], version: str | None = None) -> Schema:
    """The ``openAPIV3Schema`` of a CRD's version (default: its storage version)."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version or (version is None and entry.get("storage")):
            schema: Schema = entry["schema"]["openAPIV3Schema"]
            return schema
    raise LookupError(f"{crd['metadata']['name']} has no version {version or '(storage)'}")


def crd_disagreements(
    crd: Mapping[str, Any],
    spec: type[pydantic.BaseModel],
    status: type[pydantic.BaseModel] | None = None,
    *,
    version: str | None = None,
) -> list[str]:
    """Every difference between the CRD's schema of ``spec``/``status`` and the models' (empty: they agree),
    each as ``<path>: <what differs>``. Descriptions, CEL rules and formats are the CRD's own and not compared."""
    root = crd_schema(crd, version)
    problems: list[str] = []
    for name, model, full in (("spec", spec, True), ("status", status, False)):
        if model is None:
            continue
        schema = model.model_json_schema(by_alias=True, mode="validation")
        node = root.get("properties", {}).get(name)
        if node is None:
            problems.append(f".{name}: not in the CRD")
            continue
        problems += _compare(f".{name}", node, schema, schema.get("$defs", {}), full=full)
    return problems
