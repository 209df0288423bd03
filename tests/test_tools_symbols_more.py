"""Definitions in Java, Ruby, C# and Rust, on real files (corpora/symbol_fixtures)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import corpora
from tools.base import Workspace
from tools.symbols import extract_definitions, get_symbol_definition, language_for, signature

FIXTURES = corpora.ROOT / "symbol_fixtures"

# (file, qualified name, kind, first line, last line, signature): read off the files by hand.
EXPECTED = [
    (
        "CallbackContext.java",
        "CallbackContext.sendPluginResult",
        "method",
        52,
        62,
        "public void sendPluginResult(PluginResult pluginResult)",
    ),
    ("CallbackContext.java", "CallbackContext", "class", 27, 151, "public class CallbackContext"),
    ("cascade.rb", "Rack.Cascade.call", "method", 33, 53, "def call(env)"),
    ("cascade.rb", "Rack.Cascade", "class", 9, 67, "class Cascade # deprecated, no longer used"),
    ("error_codes_main.rs", "OutputFormat.from", "method", 44, 50, None),
    ("error_codes_main.rs", "render_html", "function", 97, 169, None),
    ("Find-VisualStudio.cs", "IEnumSetupInstances.Reset", "method", 39, 39, "void Reset();"),
]


@pytest.mark.parametrize(("file", "qualname", "kind", "first", "last", "sig"), EXPECTED)
def test_definitions_in_real_files(
    file: str, qualname: str, kind: str, first: int, last: int, sig: str | None
) -> None:
    source = (FIXTURES / file).read_bytes()
    language = language_for(file)
    assert language is not None
    found = {d.qualname: d for d in extract_definitions(source, language)}
    d = found[qualname]
    assert (d.kind, d.start_line, d.end_line) == (kind, first, last)
    lines = source.decode().splitlines()
    name = qualname.rpartition(".")[2]
    assert name in lines[first - 1] or name in lines[first]
    if sig is not None:
        assert signature(source, d) == sig
    assert "{" not in signature(source, d).rstrip(";")[-1:]


def test_rust_signature_stops_at_the_body() -> None:
    source = (FIXTURES / "error_codes_main.rs").read_bytes()
    found = {d.qualname: d for d in extract_definitions(source, "rust")}
    assert signature(source, found["render_markdown"]) == (
        "fn render_markdown(output_path: &Path) -> Result<(), Box<dyn Error>>"
    )


async def test_get_symbol_definition_reads_every_new_language(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES, root)
    ws = Workspace(root=root)
    for name, where in (
        ("CallbackContext.success", "CallbackContext.java"),
        ("Cascade.add", "cascade.rb"),
        ("parse_args", "error_codes_main.rs"),
        ("ISetupConfiguration2", "Find-VisualStudio.cs"),
    ):
        result = await get_symbol_definition(ws, name)
        assert result.ok and f"{where}:" in result.content, (name, result.content[:200])
