"""``haraka graph`` and ``haraka check`` as real child processes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .support import haraka

SMALL = "tests.cli.targets:Small"


def test_graph_text() -> None:
    result = haraka("graph", SMALL, "--set", "services.c.priority=5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "4 service(s), 3 dependency edge(s), 4 wave(s)",
        "wave 0:",
        "    1. a     priority 0 (effective 5)  [Service: Step]",
        "wave 1:",
        "    2. b     priority 0 (effective 5)  [Service: Step]  <- a",
        "wave 2:",
        "    3. c     priority 5  [Service: Step]  <- b",
        "wave 3:",  # late (priority 0) waits for every higher-priority service
        "    4. late  priority 0  [Service: Late]  <- a",
        "stop order: late -> c -> b -> a",
    ]


def test_graph_json() -> None:
    result = haraka("graph", SMALL, "--format", "json", "--set", "services.late.enabled=false")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["name"] for s in data["services"]] == ["a", "b", "c"]
    assert data["waves"] == [["a"], ["b"], ["c"]]
    assert data["services"][1] == {
        "name": "b",
        "kind": "Service",
        "class": "Step",
        "priority": 0,
        "effective_priority": 0,
        "wave": 1,
        "order": 2,
        "dependencies": ["a"],
        "dependents": ["c"],
    }
    assert data["stop_order"] == ["c", "b", "a"]
    assert data["disabled"] == ["late"]


def test_graph_mermaid() -> None:
    result = haraka("graph", SMALL, "-f", "mermaid")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    ids = dict(re.findall(r'^\s+(s\d+)\["([a-z]+)<br/>', result.stdout, re.M))
    assert sorted(ids.values()) == ["a", "b", "c", "late"]
    assert 'priority 0, wave 1"]' in result.stdout
    edges = {(ids[x], ids[y]) for x, y in re.findall(r"(s\d+) --> (s\d+)", result.stdout)}
    assert edges == {("a", "b"), ("b", "c"), ("a", "late")}


def test_graph_dot() -> None:
    result = haraka("graph", SMALL, "--format", "dot")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph services {")
    assert result.stdout.rstrip().endswith("}")
    edges = set(re.findall(r'"(\w+)" -> "(\w+)";', result.stdout))
    assert edges == {("a", "b"), ("b", "c"), ("a", "late")}
    assert '"c" [label="c\\nService: Step\\npriority 0\\nwave 2"];' in result.stdout


STORED = "tests.cli.targets:Stored"  # store (a Resource) <- a <- b


def test_graph_text_says_each_nodes_kind() -> None:
    result = haraka("graph", STORED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "3 node(s) (2 service(s), 1 resource(s)), 2 dependency edge(s), 3 wave(s)",
        "wave 0:",
        "    1. store  priority 0  [Resource: open_store]",
        "wave 1:",
        "    2. a      priority 0  [Service: Step]  <- store",
        "wave 2:",
        "    3. b      priority 0  [Service: Step]  <- a",
        "stop order: b -> a -> store",
    ]


def test_graph_json_says_each_nodes_kind() -> None:
    result = haraka("graph", STORED, "--format", "json")
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)["services"]
    assert [(n["name"], n["kind"], n["class"]) for n in nodes] == [
        ("store", "Resource", "open_store"),
        ("a", "Service", "Step"),
        ("b", "Service", "Step"),
    ]


def test_graph_mermaid_draws_a_resource_as_a_cylinder() -> None:
    result = haraka("graph", STORED, "-f", "mermaid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:4] == [
        '    s0[("store<br/>Resource: open_store<br/>priority 0, wave 0")]',
        '    s1["a<br/>Service: Step<br/>priority 0, wave 1"]',
        '    s2["b<br/>Service: Step<br/>priority 0, wave 2"]',
    ]


def test_graph_dot_draws_a_resource_as_a_cylinder() -> None:
    result = haraka("graph", STORED, "-f", "dot")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    store = (
        '    "store" [label="store\\nResource: open_store\\npriority 0\\nwave 0" shape=cylinder];'
    )
    assert store in lines
    assert '    "a" [label="a\\nService: Step\\npriority 0\\nwave 1"];' in lines


def test_graph_unknown_format_is_a_usage_error() -> None:
    result = haraka("graph", SMALL, "--format", "svg")
    assert result.returncode == 2
    assert "invalid choice: 'svg'" in result.stderr


def test_check_ok_prints_one_summary_line(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("services:\n  late:\n    priority: 3\nconfig:\n  late_seconds: 0.1\n")
    result = haraka("check", SMALL, "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"OK: {SMALL}: 4 service(s), 3 dependency edge(s), 4 wave(s); config {path}"
    ]
    assert result.stderr == ""


def test_check_counts_services_and_resources_apart() -> None:
    result = haraka("check", STORED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"OK: {STORED}: 3 node(s) (2 service(s), 1 resource(s)), 2 dependency edge(s), 3 wave(s)"
    ]


def test_check_warns_in_one_line_when_there_is_nothing_to_run() -> None:
    result = haraka("check", "tests.cli.targets:Empty")
    assert result.returncode == 0, result.stderr  # a warning, not a problem
    assert result.stderr.splitlines() == [
        "haraka check: warning: tests.cli.targets:Empty has no lifecycle nodes (no Service "
        "providers and no providers.Resource): nothing to run; declare them in the "
        "container, or point TARGET at the container that does"
    ]
    assert result.stdout.splitlines() == [
        "OK: tests.cli.targets:Empty: 0 service(s), 0 dependency edge(s), 0 wave(s)"
    ]


def test_check_warns_when_every_node_is_disabled(tmp_path: Path) -> None:
    path = tmp_path / "off.yaml"
    path.write_text(
        "services:\n" + "".join(f"  {n}: {{enabled: false}}\n" for n in ("store", "a", "b"))
    )
    result = haraka("check", STORED, "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"haraka check: warning: {STORED}: all 3 node(s) are disabled "
        "(services.NAME.enabled: false): nothing to run; enable one in the configuration"
    ]


def test_check_says_nothing_of_the_kind_when_there_are_nodes() -> None:
    assert "warning" not in haraka("check", SMALL).stderr


def test_check_nested_container() -> None:
    result = haraka("check", "tests.cli.targets:Outer")
    assert result.returncode == 0, result.stderr
    graph = haraka("graph", "tests.cli.targets:Outer", "-f", "json")
    services = {s["name"]: s["dependencies"] for s in json.loads(graph.stdout)["services"]}
    assert services["web"] == ["infra.c"]


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        ("services:\n  a:\n    dependencies: [c]\n", "Circular dependency detected at "),
        (
            "services:\n  a:\n    dependencies: [nope]\n",
            "Unknown dependency 'nope' for service 'a'",
        ),
        (
            "services:\n  a:\n    enabled: false\n",
            "Service 'b' depends on 'a', which is disabled",
        ),
        ("services:\n  a: {priority: 1}\n  zz: {priority: 1}\n", "unknown service 'zz'"),
        ("orchestrator:\n  timeout: 3\n", ":2: orchestrator.timeout: unknown key 'timeout'"),
        ("config:\n  a: [1, 2\n", ": invalid YAML: "),
    ],
)
def test_check_reports_problems_and_exits_1(tmp_path: Path, yaml_text: str, problem: str) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(yaml_text)
    result = haraka("check", SMALL, "-c", str(path))
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("haraka check: error: ")
    assert problem in lines[0]
    assert lines[-1] == f"{SMALL}: 1 problem(s) found"
    assert result.stdout == ""


def test_check_reports_undefined_dependencies_and_plan_errors_together() -> None:
    result = haraka("check", "tests.cli.targets:Undefined", "--set", "services.a.dependencies=[x]")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("haraka check: error: undefined dependency 'dsn': ")
    assert lines[1] == "haraka check: error: Unknown dependency 'x' for service 'a'"
    assert lines[2] == "tests.cli.targets:Undefined: 2 problem(s) found"


def test_check_ignores_the_runtime_slot() -> None:
    result = haraka("check", SMALL)
    assert result.returncode == 0
    assert "runtime" not in result.stdout + result.stderr
