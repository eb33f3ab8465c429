"""What a Python file imports, read from its import statements (function-level ones included)."""

from __future__ import annotations

import ast
from pathlib import Path


def imports_of(path: Path, with_names: bool = False) -> set[str]:
    """The modules path imports; with_names, also module.name for each `from module import name`
    (a name that may itself be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if with_names:
                found.update(node.module + "." + a.name for a in node.names)
    return found
