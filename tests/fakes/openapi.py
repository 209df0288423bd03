"""Request validation against an OpenAPI 3.0 document, the way GitHub's API gateway does it.

``OpenAPISpec.load(path)`` reads the document once. ``match(method, path)`` finds the
operation (templates with more literal segments win; ``x-multi-segment`` parameters may
span slashes), and ``validate_query`` / ``validate_body`` return GitHub-style messages
(``"name" wasn't supplied.``) for anything the real API would refuse. Schemas are checked
with jsonschema (draft 4 semantics) after turning 3.0's ``nullable`` into a null type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str
    required: bool
    schema: Mapping[str, Any]
    multi_segment: bool


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    template: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_schema: Mapping[str, Any] | None
    body_required: bool
    documentation_url: str
    pattern: re.Pattern[str]
    literal_weight: int


@dataclass(frozen=True, slots=True)
class Match:
    operation: Operation
    path_params: Mapping[str, str]


def _to_draft4(node: Any) -> Any:
    """Copy a 3.0 schema tree, turning ``nullable: true`` into a null alternative."""
    if isinstance(node, list):
        return [_to_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_draft4(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [{"type": "null"}, out]}
    return out


class OpenAPISpec:
    """The operations of one OpenAPI 3.0 document, ready to match and validate requests."""

    def __init__(self, document: Mapping[str, Any]):
        self._document = document
        self._components = _to_draft4(document.get("components", {}))
        self.operations = tuple(self._build_operations())

    @classmethod
    def load(cls, path: Path) -> OpenAPISpec:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow a local ``$ref`` (``#/components/...``) to its target."""
        seen: set[str] = set()
        while "$ref" in node:
            ref = str(node["$ref"])
            if ref in seen or not ref.startswith("#/"):
                raise ValueError(f"unresolvable $ref {ref!r}")
            seen.add(ref)
            target: Any = self._document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _build_operations(self) -> Iterable[Operation]:
        for template, item in self._document.get("paths", {}).items():
            shared = [self.resolve(p) for p in item.get("parameters", [])]
            for method in _HTTP_METHODS:
                op = item.get(method)
                if op is None:
                    continue
                params = {(p["name"], p["in"]): p for p in shared}
                for raw in op.get("parameters", []):
                    p = self.resolve(raw)
                    params[(p["name"], p["in"])] = p
                parameters = tuple(
                    Parameter(
                        name=p["name"],
                        location=p["in"],
                        required=bool(p.get("required", False)),
                        schema=_to_draft4(p.get("schema", {})),
                        multi_segment=bool(p.get("x-multi-segment", False)),
                    )
                    for p in params.values()
                )
                body_schema, body_required = self._body(op)
                yield Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=str(op.get("operationId", "")),
                    parameters=parameters,
                    body_schema=body_schema,
                    body_required=body_required,
                    documentation_url=str(op.get("externalDocs", {}).get("url", "")),
                    pattern=_template_pattern(template, parameters),
                    literal_weight=len(re.sub(r"\{[^}]+\}", "", template)),
                )

    def _body(self, op: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, bool]:
        if "requestBody" not in op:
            return None, False
        body = self.resolve(op["requestBody"])
        content = body.get("content", {}).get("application/json")
        if content is None:
            return None, bool(body.get("required", False))
        schema = _to_draft4(content.get("schema", {}))
        return schema, bool(body.get("required", False))

    def match(self, method: str, path: str) -> Match | None:
        """The operation for ``method`` and ``path``; None when GitHub would answer 404."""
        candidates = sorted(self.operations, key=lambda o: -o.literal_weight)
        for op in candidates:
            if op.method != method.upper():
                continue
            m = op.pattern.fullmatch(path)
            if m is None:
                continue
            params = m.groupdict()
            if all(_path_value_ok(p, params[p.name]) for p in op.parameters if p.name in params):
                return Match(op, params)
        return None

    def validate_query(self, op: Operation, query: Mapping[str, str]) -> list[str]:
        errors: list[str] = []
        for p in op.parameters:
            if p.location != "query":
                continue
            if p.name not in query:
                if p.required:
                    errors.append(f'"{p.name}" wasn\'t supplied.')
                continue
            value = _coerce(query[p.name], p.schema)
            errors.extend(_schema_errors(value, p.schema, self._components, prefix=p.name))
        return errors

    def validate_schema(self, name: str, instance: Any, *, prefix: str = "") -> list[str]:
        """Errors of ``instance`` against ``components.schemas[name]``, unknown keys included."""
        schema = {"$ref": f"#/components/schemas/{name}"}
        errors = _schema_errors(instance, schema, self._components, prefix=prefix)
        known = self.resolve(schema).get("properties")
        if isinstance(instance, dict) and isinstance(known, dict):
            errors += [
                f"{prefix}/{key} is not a known property" for key in instance if key not in known
            ]
        return errors

    def validate_body(self, op: Operation, body: Any) -> list[str]:
        if op.body_schema is None:
            return []
        return _schema_errors(body, op.body_schema, self._components, prefix="")


def _template_pattern(template: str, parameters: tuple[Parameter, ...]) -> re.Pattern[str]:
    multi = {p.name for p in parameters if p.location == "path" and p.multi_segment}
    out: list[str] = []
    pos = 0
    for m in re.finditer(r"\{([^}]+)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        out.append(f"(?P<{name}>.+)" if name in multi else f"(?P<{name}>[^/]+?)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def _path_value_ok(param: Parameter, value: str) -> bool:
    if not value:
        return False
    kind = param.schema.get("type")
    if kind == "integer":
        return value.isdigit()
    return True


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in kinds:
        try:
            return float(value)
        except ValueError:
            return value
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    return value


def _schema_errors(
    instance: Any, schema: Mapping[str, Any], components: Any, *, prefix: str
) -> list[str]:
    root = {"components": components, "allOf": [schema]}
    validator = jsonschema.Draft4Validator(root)
    return [
        _github_message(e, prefix)
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def _github_message(error: jsonschema.ValidationError, prefix: str) -> str:
    """Phrase a jsonschema error the way GitHub's validator does."""
    parts = [prefix] if prefix else []
    parts.extend(str(p) for p in error.absolute_path)
    where = "/".join(parts)
    value = json.dumps(error.instance)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else error.message
        return f'"{name}" wasn\'t supplied.'
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        return f'"{extra[0] if extra else where}" is not a permitted key.'
    if error.validator == "type":
        kind = error.validator_value
        kinds = kind if isinstance(kind, list) else [kind]
        wanted = " or ".join(_TYPE_NAMES.get(str(k), str(k)) for k in kinds)
        return f"For 'properties/{where}', {value} is not {wanted}."
    if error.validator == "enum":
        members = json.dumps(error.validator_value)
        return f"For 'properties/{where}', {value} is not a member of {members}."
    if error.validator in ("anyOf", "oneOf"):
        return f'No subschema in "{error.validator}" matched.'
    return f"For 'properties/{where}', {error.message}."
