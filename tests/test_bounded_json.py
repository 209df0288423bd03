"""Model-written JSON nested absurdly deep is an ordinary "not valid JSON" error, never a crash."""

from __future__ import annotations

import json

import pytest

from prwarden.errors import ModelOutputError
from review.submit import parse_submission
from security import bounded_json
from tools.registry import parse_arguments

DEEP = '{"path": ' + "[" * 100_000 + "]" * 100_000 + "}"
NESTED_100 = '{"a": ' + "[" * 100 + "]" * 100 + "}"


@pytest.mark.parametrize("text", [DEEP, NESTED_100])
def test_deep_documents_are_refused_as_invalid_json(text: str) -> None:
    with pytest.raises(json.JSONDecodeError, match="nested deeper than 64 levels"):
        bounded_json.loads(text)


def test_ordinary_documents_load() -> None:
    assert bounded_json.loads('{"a": [[1, {"b": []}]]}') == {"a": [[1, {"b": []}]]}
    assert bounded_json.loads(b'{"a": ' + b"[" * 60 + b"]" * 60 + b"}")["a"]


def test_a_tool_call_nested_deep_gets_an_error_message() -> None:
    deep = '{"path": ' + "[" * 5000 + "]" * 5000 + "}"  # under the argument-length cap
    problem = parse_arguments(deep)
    assert isinstance(problem, str) and "nested deeper" in problem


def test_a_submission_nested_100000_deep_is_model_output_error() -> None:
    with pytest.raises(ModelOutputError, match="not JSON"):
        parse_submission(DEEP)
