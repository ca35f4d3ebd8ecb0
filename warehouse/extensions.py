"""Loading DuckDB's official extensions (fts, quack, httpfs), offline when possible.

Each extension is looked for, in order: already installed in DuckDB's extension directory; the
`.duckdb_extension` file shipped inside the `duckdb-extension-<name>` PyPI package for this
DuckDB version (installed from that path, no network); DuckDB's own repository (network).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb


class ExtensionUnavailable(Exception):
    """A DuckDB extension could not be loaded from any source; the message names the package."""


def packaged_extension(name: str) -> Path | None:
    """The `<name>.duckdb_extension` file inside the installed `duckdb-extension-<name>`
    package, built for the running DuckDB version; None when the package is not installed
    or was built for another version."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        return None
    version = f"v{duckdb.__version__}"
    for root in spec.submodule_search_locations:
        candidate = Path(root) / "extensions" / version / f"{name}.duckdb_extension"
        if candidate.is_file():
            return candidate
    return None


def load_extension(
    con: duckdb.DuckDBPyConnection, name: str, *, allow_download: bool = True
) -> str:
    """Load extension `name` into `con`, installing it first if needed. Returns where it came
    from: 'installed', 'package' or 'repository'. Raises ExtensionUnavailable with a sentence
    naming the PyPI package to install when no source works (the repository is tried only when
    `allow_download`)."""
    try:
        con.execute(f"LOAD {name}")
        return "installed"
    except duckdb.Error:
        pass
    reasons = []
    packaged = packaged_extension(name)
    if packaged is not None:
        try:
            con.execute(f"INSTALL '{_quoted(str(packaged))}'")
            con.execute(f"LOAD {name}")
            return "package"
        except duckdb.Error as exc:
            reasons.append(f"from {packaged}: {str(exc).splitlines()[0]}")
    else:
        reasons.append(
            f"the duckdb-extension-{name}=={duckdb.__version__} package is not installed"
        )
    if allow_download:
        try:
            con.execute(f"INSTALL {name}")
            con.execute(f"LOAD {name}")
            return "repository"
        except duckdb.Error as exc:
            reasons.append(f"from DuckDB's repository: {str(exc).splitlines()[0]}")
    raise ExtensionUnavailable(
        f"the DuckDB extension {name!r} cannot be loaded ({'; '.join(reasons)}); install it with "
        f"`pip install duckdb-extension-{name}=={duckdb.__version__}`."
    )


def _quoted(text: str) -> str:
    return text.replace("'", "''")
