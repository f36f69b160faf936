"""Package layering: the core never imports ROS or the benchmark; no benchmark module imports the CLI."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "rman_ros"


def imported_modules(path: Path):
    """Every module an .py file imports, at any depth (lazy imports inside functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against the file's package
                parts = list(path.relative_to(PKG.parent).with_suffix("").parts)[:-node.level]
                base = ".".join(parts + [node.module])
            yield base


@pytest.mark.parametrize("path", sorted((PKG / "core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_neither_ros_nor_the_benchmark(path):
    bad = [m for m in imported_modules(path)
           if m.split(".")[0] in ("rclpy", "rcl_interfaces", "sensor_msgs", "vision_msgs")
           or m.startswith(("rman_ros.bench", "rman_ros.ros", "rman_ros.bag"))]
    assert not bad, bad


def test_no_benchmark_module_imports_the_command_line():
    for path in sorted((PKG / "bench").rglob("*.py")):
        if path.name in ("cli.py", "__main__.py"):
            continue
        bad = [m for m in imported_modules(path) if m in ("rman_ros.bench.cli", "rman_ros.bench.__main__")]
        assert not bad, (path.name, bad)
