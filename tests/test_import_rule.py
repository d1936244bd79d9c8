"""ARCHITECTURE.md: only handlers.py files, server/web/, server/phone/, server/console/,
server/app.py and server/__main__.py may import Tornado; only server/config.py reads
os.environ (HOW_WE_BUILD §3). Both rules are checked by walking the source with ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "miniprogram_api", "distribution", "training")
TORNADO_ALLOWED_DIRS = ("server/web/", "server/phone/", "server/console/")
TORNADO_ALLOWED_FILES = {"server/app.py", "server/__main__.py"}
ENVIRON_ALLOWED_FILES = {"server/config.py"}


def python_files(root: Path) -> list[Path]:
    files = []
    for package in PACKAGES:
        base = root / package
        if base.is_dir():
            files += sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    return files


def may_import_tornado(rel: str) -> bool:
    return (
        rel.rsplit("/", 1)[-1] == "handlers.py"
        or rel in TORNADO_ALLOWED_FILES
        or rel.startswith(TORNADO_ALLOWED_DIRS)
    )


def tornado_imports(tree: ast.AST) -> list[int]:
    """Line numbers of every ``import tornado...`` / ``from tornado... import``, at any depth."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == "tornado" or a.name.startswith("tornado.") for a in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tornado" or node.module.startswith("tornado."):
                lines.append(node.lineno)
    return lines


def environ_reads(tree: ast.AST) -> list[int]:
    """Line numbers where a module touches the environment: os.environ, os.environb,
    os.getenv, os.putenv, or ``from os import environ/getenv``."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(a.name in names for a in node.names):
                lines.append(node.lineno)
    return lines


def violations(root: Path) -> tuple[list[str], list[str]]:
    """(tornado violations, environ violations) as "path:line" strings."""
    tornado, environ = [], []
    for path in python_files(root):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        if not may_import_tornado(rel):
            tornado += [f"{rel}:{line}" for line in tornado_imports(tree)]
        if rel not in ENVIRON_ALLOWED_FILES:
            environ += [f"{rel}:{line}" for line in environ_reads(tree)]
    return tornado, environ


def test_walk_sees_the_domain_packages() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in python_files(ROOT)}
    # The walk really covers the domain and the shell (a broken glob would pass vacuously).
    assert {"server/rooms/service.py", "server/staff/service.py", "server/config.py",
            "server/web/api.py", "server/rooms/handlers.py"} <= files
    assert all(not f.startswith(("ops/", "tests/")) for f in files)


def test_domain_modules_do_not_import_tornado() -> None:
    tornado, _ = violations(ROOT)
    assert not tornado, "domain modules must not import tornado: " + ", ".join(tornado)


def test_only_config_reads_the_environment() -> None:
    _, environ = violations(ROOT)
    assert not environ, "only server/config.py may read os.environ: " + ", ".join(environ)


def test_allowed_places_do_import_tornado() -> None:
    """The allow-list matches reality: the shell does import Tornado (else the rule is stale)."""
    for rel in ("server/web/api.py", "server/app.py"):
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        assert tornado_imports(tree), rel
    tree = ast.parse((ROOT / "server/config.py").read_text(encoding="utf-8"))
    assert environ_reads(tree)


@pytest.mark.parametrize(
    ("rel", "source", "kind"),
    [
        ("server/rooms/service.py", "import tornado.web\n", "tornado"),
        ("server/rooms/repo.py", "from tornado import gen\n", "tornado"),
        ("distribution/selection.py", "def f():\n    import tornado\n", "tornado"),
        ("training/models.py", "from tornado.ioloop import IOLoop\n", "tornado"),
        ("miniprogram_api/service.py", "import os, tornado.httpclient\n", "tornado"),
        ("server/web/util.py", "import os\nX = os.environ['HOME']\n", "environ"),
        ("server/staff/service.py", "from os import getenv\n", "environ"),
        ("distribution/plan.py", "import os\nX = os.getenv('A')\n", "environ"),
    ],
)
def test_checker_catches_violations(tmp_path: Path, rel: str, source: str, kind: str) -> None:
    """The checker itself fails on a violation and names the file."""
    target = tmp_path / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    tornado, environ = violations(tmp_path)
    found = tornado if kind == "tornado" else environ
    other = environ if kind == "tornado" else tornado
    assert found and all(v.startswith(rel + ":") for v in found), (tornado, environ)
    assert not other


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("server/rooms/handlers.py", "import tornado.web\n"),
        ("distribution/handlers.py", "from tornado.web import HTTPError\n"),
        ("server/web/base.py", "import tornado.web\n"),
        ("server/phone/handlers.py", "import tornado\n"),
        ("server/console/pages.py", "import tornado.escape\n"),
        ("server/app.py", "import tornado.web\n"),
        ("server/__main__.py", "def serve():\n    from tornado.httpserver import HTTPServer\n"),
        ("server/config.py", "import os\nX = os.environ\n"),
        ("server/crypto.py", "import os\nX = os.urandom(12)\n"),
        ("server/rooms/models.py", "import tornadoes\nfrom .tornado import x\n"),
    ],
)
def test_checker_allows_the_shell(tmp_path: Path, rel: str, source: str) -> None:
    target = tmp_path / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    assert violations(tmp_path) == ([], [])
