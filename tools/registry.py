"""The tools the agent sees (OpenAI "tools" JSON schemas) and one call path that never raises.

Every failure of a call — an unknown tool, arguments that are not a JSON object or do not
follow the tool's schema, a path outside the workspace, a program that fails or times out —
becomes a ``ToolResult`` with ``ok=False`` and a message the model can act on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import jsonschema

from prwarden.errors import ToolError
from security import bounded_json
from tools.base import ToolResult, ToolSpec, Workspace, cap_text
from tools.linter import run_linter
from tools.read_file import read_file
from tools.search import MAX_GLOB_CHARS, MAX_QUERY_CHARS, search_codebase
from tools.symbols import get_symbol_definition

MAX_ARGUMENT_CHARS = 20_000
_PATH = {"type": "string", "minLength": 1, "maxLength": 1024}


class ToolRegistry:
    """Tools by name, their schemas for the model, and ``call``, which never raises."""

    def __init__(self, specs: Sequence[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"tool registered twice: {spec.name}")
            validator_cls = jsonschema.validators.validator_for(spec.parameters)
            validator_cls.check_schema(spec.parameters)
            self._specs[spec.name] = spec
            self._validators[spec.name] = validator_cls(spec.parameters)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def schemas(self) -> list[dict[str, Any]]:
        return [spec.openai_schema() for spec in self._specs.values()]

    async def call(
        self, name: str, arguments: str | Mapping[str, Any], ws: Workspace
    ) -> ToolResult:
        """Run tool ``name`` with the model's ``arguments``; every failure is an error result."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self._specs)
            return ToolResult.failure(str(name)[:100], f"unknown tool {name!r}; tools: {known}")
        args = parse_arguments(arguments)
        if isinstance(args, str):
            return ToolResult.failure(name, args)
        problems = sorted(
            self._validators[name].iter_errors(args), key=lambda e: list(e.absolute_path)
        )
        if problems:
            detail = "; ".join(_describe(e) for e in problems[:5])
            return ToolResult.failure(name, f"invalid arguments for {name}: {detail}")
        try:
            async with asyncio.timeout(ws.timeout):
                result = await spec.run(ws, args)
        except TimeoutError:
            return ToolResult.failure(name, f"{name} timed out after {ws.timeout:g} s")
        except ToolError as exc:
            return ToolResult.failure(name, str(exc))
        except (OSError, UnicodeError) as exc:
            return ToolResult.failure(name, f"{name} could not run: {exc}")
        content, cut = cap_text(result.content, ws.output_cap)
        return dataclasses.replace(result, content=content, truncated=result.truncated or cut)


# Keywords the registry checks on every call: the model does not need to read them.
_CHECK_ONLY = frozenset({"minLength", "maxLength", "minimum", "maximum", "additionalProperties"})


def model_schemas(registry: ToolRegistry) -> list[dict[str, Any]]:
    """The tools as the model reads them, in few tokens: each tool's one-line summary and its
    arguments' types; limits stay in the schemas ``call`` validates against."""
    out = []
    for schema in registry.schemas():
        fn = schema["function"]
        params = fn["parameters"]
        required = list(params.get("required", ()))
        properties = {
            key: {
                k: (_non_null(v) if k == "type" else v)
                for k, v in spec.items()
                if k not in _CHECK_ONLY
            }
            for key, spec in params.get("properties", {}).items()
        }
        summary = fn["description"].split("\n\n", 1)[0].replace("\n", " ")
        out.append(
            {
                "type": "function",
                "function": {
                    "name": fn["name"],
                    "description": summary,
                    "parameters": {
                        "type": "object",
                        "properties": properties,
                        "required": required,
                    },
                },
            }
        )
    return out


def _non_null(kind: Any) -> Any:
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 else kinds
    return kind


def parse_arguments(arguments: str | Mapping[str, Any]) -> dict[str, Any] | str:
    """The model's arguments as a dict, or an error message saying what is wrong."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str):
        return "arguments must be a JSON object"
    if len(arguments) > MAX_ARGUMENT_CHARS:
        return f"arguments longer than {MAX_ARGUMENT_CHARS} characters"
    try:
        parsed = bounded_json.loads(arguments or "{}", strict=False)
    except json.JSONDecodeError as exc:
        return f"arguments are not valid JSON: {exc.msg} at position {exc.pos}"
    if not isinstance(parsed, dict):
        return f"arguments must be a JSON object, not {type(parsed).__name__}"
    return parsed


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "arguments"
    return f"{where}: {error.message[:200]}"


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An optional argument may also be null (models often send null for "not given")."""
    return {**schema, "type": [schema["type"], "null"]}


def _spec(
    name: str,
    fn: Callable[..., Awaitable[ToolResult]],
    properties: Mapping[str, Any],
    required: Sequence[str],
) -> ToolSpec:
    async def run(ws: Workspace, args: Mapping[str, Any]) -> ToolResult:
        return await fn(ws, **{k: v for k, v in args.items() if v is not None})

    return ToolSpec(
        name=name,
        description=inspect.getdoc(fn) or name,
        parameters={
            "type": "object",
            "properties": {
                key: schema if key in required else _nullable(schema)
                for key, schema in properties.items()
            },
            "required": list(required),
            "additionalProperties": False,
        },
        run=run,
    )


def default_registry() -> ToolRegistry:
    """The four workspace tools: search_codebase, run_linter, get_symbol_definition, read_file."""
    return ToolRegistry(
        [
            _spec(
                "search_codebase",
                search_codebase,
                {
                    "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                    "glob": {"type": "string", "minLength": 1, "maxLength": MAX_GLOB_CHARS},
                    "regex": {"type": "boolean"},
                },
                ["query"],
            ),
            _spec("run_linter", run_linter, {"path": _PATH}, ["path"]),
            _spec(
                "get_symbol_definition",
                get_symbol_definition,
                {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "path": _PATH},
                ["name"],
            ),
            _spec(
                "read_file",
                read_file,
                {
                    "path": _PATH,
                    "start": {"type": "integer", "minimum": 1},
                    "end": {"type": "integer", "minimum": 1},
                },
                ["path"],
            ),
        ]
    )
