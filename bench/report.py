"""From what a run saw to the figures a platform engineer compares: pure functions over plain data.

A run's data (`run_data`) is JSON: per pod its team, cpu, creation and binding times and node;
the per-second samples of each team's bound cpu and pending pods; the CPU seconds each process
spent. `summarize` turns it into one row; `markdown` and `plot` make the results.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any, Iterable, Mapping, Optional

from airflow_kit_platform.quantities import parse_quantity
from bench import workload

# The cluster counts as full when the run's pods hold this much of its cpu (8-cpu tasks leave
# fragments); only then does a waiting team say something about fairness rather than speed.
CONTENDED_SHARE = 0.9


def percentile(values: list[float], share: float) -> Optional[float]:
    """Nearest-rank percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _cpu(team: Mapping[str, Any], key: str) -> float:
    return float(parse_quantity(team[key]["cpu"]))


def tree_limits(tree: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per team: its min and max cpu and the leaves its usage adds up from."""
    children: dict[Optional[str], list[str]] = {}
    for team in tree:
        children.setdefault(team.get("parent"), []).append(team["name"])

    def leaves(name: str) -> list[str]:
        below = children.get(name, [])
        return [name] if not below else [leaf for child in below for leaf in leaves(child)]

    return {team["name"]: {"min": _cpu(team, "min"), "max": _cpu(team, "max"), "leaves": leaves(team["name"]),
                           "parent": team.get("parent"), "weight": team.get("weight", 1)} for team in tree}


def quota_conformance(tree: list[dict[str, Any]], samples: list[dict[str, Any]], capacity: float,
                      smallest_request: float) -> dict[str, Any]:
    """Over every sample: teams above their max (how many samples, the worst ratio, the most cpu
    beyond a max, the longest unbroken stretch over it). Over the samples where the cluster is full:
    teams with pods waiting (unbound for over 10 s) while below their min, and how two sibling
    teams that both wait and both borrow split what they borrow beyond their mins (against
    their weights)."""
    limits = tree_limits(tree)
    over: list[tuple[float, str, float]] = []  # (t, team, used / max)
    excess = 0.0  # the most cpu any team held beyond its max
    stretch_start: dict[str, float] = {}  # team -> when its current run of over-max samples began
    longest = 0.0  # the longest such run (first to last over-max sample), seconds
    waiting_samples = below_min = 0
    shares: list[float] = []  # the first sibling's part of the pair's borrowed cpu
    expected_shares: list[float] = []
    contended = 0
    for sample in samples:
        used = sample["bound_cpu"]
        waiting = sample.get("waiting", sample["pending"])
        team_used = {name: sum(used.get(leaf, 0.0) for leaf in limit["leaves"]) for name, limit in limits.items()}
        full = sum(used.values()) >= capacity * CONTENDED_SHARE
        contended += full
        for name, limit in limits.items():
            if team_used[name] > limit["max"] + 1e-6:
                over.append((sample["t"], name, team_used[name] / limit["max"]))
                excess = max(excess, team_used[name] - limit["max"])
                longest = max(longest, sample["t"] - stretch_start.setdefault(name, sample["t"]))
            else:
                stretch_start.pop(name, None)
            if full and len(limit["leaves"]) == 1 and waiting.get(name, 0) > 0:
                waiting_samples += 1
                if team_used[name] + smallest_request <= limit["min"]:
                    below_min += 1
        for parent, limit in limits.items():
            if not full:
                break
            siblings = [name for name, each in limits.items() if each["parent"] == parent and len(each["leaves"]) == 1]
            if len(siblings) != 2 or not all(waiting.get(name, 0) > 0 for name in siblings):
                continue
            borrowed = [team_used[name] - limits[name]["min"] for name in siblings]
            if min(borrowed) <= 0:  # a sibling below its min: its min, not the weights, decides
                continue
            shares.append(borrowed[0] / sum(borrowed))
            weights = [limits[name]["weight"] for name in siblings]
            expected_shares.append(weights[0] / sum(weights))
    return {
        "over_max_samples": len(over),
        "over_max_worst": max((ratio for _, _, ratio in over), default=None),
        "over_max_teams": sorted({name for _, name, _ in over}),
        "over_max_excess_cpu": excess,
        "over_max_longest_seconds": longest,
        "waiting_team_samples": waiting_samples,
        "waiting_below_min_share": below_min / waiting_samples if waiting_samples else None,
        "sibling_pairs_waiting": len(shares),
        "weighted_share": statistics.mean(shares) if shares else None,
        "expected_weighted_share": statistics.mean(expected_shares) if expected_shares else None,
        "contended_samples": contended,
    }


def give_back(data: Mapping[str, Any]) -> dict[str, Any]:
    """The quiet team's burst: how long until it held half of its min, its full min (within one
    smallest task, the rule `waiting_below_min_share` uses), and until all its pods ran."""
    late = data["late_team"]
    start = data.get("late_team_first_created")
    if start is None:
        return {"team": late, "half_min_after": None, "full_min_after": None, "all_bound_after": None}
    minimum = tree_limits(data["tree"])[late]["min"]
    smallest = min(float(parse_quantity(size["cpu"])) for size in data["task_sizes"])

    def first_holding(cpu: float) -> Optional[float]:
        return next((s["t"] - start for s in data["samples"]
                     if s["t"] >= start and s["bound_cpu"].get(late, 0.0) + 1e-6 >= cpu), None)

    bound = [pod["bound"] for pod in data["pods"].values() if pod["team"] == late]
    all_bound = max(bound) - start if bound and all(b is not None for b in bound) else None
    return {"team": late, "half_min_after": first_holding(minimum / 2),
            "full_min_after": first_holding(minimum - smallest), "all_bound_after": all_bound}


def summarize(data: Mapping[str, Any]) -> dict[str, Any]:
    pods = list(data["pods"].values())
    bound = [pod for pod in pods if pod["bound"] is not None]
    latencies = [pod["bound"] - pod["created"] for pod in bound if pod["created"] is not None]
    bind_times = sorted(pod["bound"] for pod in bound)
    first_created = min((pod["created"] for pod in pods if pod["created"] is not None), default=0.0)
    whole = len(bound) / (bind_times[-1] - first_created) if bind_times and bind_times[-1] > first_created else None
    steady = None
    if len(bind_times) >= 20:  # the middle 80 % of bindings
        low, high = bind_times[len(bind_times) // 10], bind_times[(len(bind_times) * 9) // 10]
        steady = (len(bind_times) * 8 // 10) / (high - low) if high > low else None
    hot = set(data["hot_nodes"])
    on_hot = sum(1 for pod in bound if pod["node"] in hot)
    capacity = data["capacity_cpu"]
    smallest = min(float(parse_quantity(size["cpu"])) for size in data["task_sizes"])
    cpu = data["cpu_seconds"]
    scheduler_cpu = sum(seconds for name, seconds in cpu.items() if name in data["scheduler_processes"])
    return {
        "label": data["label"], "backend": data["backend"], "kit": data["kit"],
        "pods": len(pods), "bound": len(bound), "refused_creations": data.get("refused", 0),
        "seconds": data["ended"],
        "bound_per_second": whole, "steady_bound_per_second": steady,
        "bound_first_minute": sum(1 for t in bind_times if t - first_created <= 60),
        "latency_p50": percentile(latencies, 0.5), "latency_p99": percentile(latencies, 0.99),
        "hot_share": on_hot / len(bound) if bound else None,
        "hot_capacity_share": data["hot_capacity_cpu"] / capacity if capacity else None,
        "quota": quota_conformance(data["tree"], data["samples"], capacity, smallest),
        "give_back": give_back(data),
        "cpu_seconds": cpu, "scheduler_cpu_seconds": scheduler_cpu,
        "setup_seconds": data.get("setup_seconds", {}),
        "client_throttling": data.get("client_throttling", {}),
    }


THROTTLED = re.compile(r'"Waited before sending request".* delay="([0-9.]+)s" reason="client-side throttling')


def client_throttling(log_text: str) -> Optional[float]:
    """The longest wait a Kubernetes client logged on its own rate limiter (client-go logs the
    waits over a second, at most once per ten seconds); None when it logged none."""
    waits = [float(match.group(1)) for match in THROTTLED.finditer(log_text)]
    return max(waits) if waits else None


def _f(value: Optional[float], digits: int = 1, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def markdown(rows: Iterable[Mapping[str, Any]], header: str) -> str:
    rows = list(rows)
    lines = [header, "",
             "| scheduler | config | pods bound | bound/s (run) | bound/s (steady) | bound in the first 60 s | "
             "create→bind p50 | p99 | "
             "team-samples over max | waiting teams below min | 1st sibling's share of borrowed (weight) | "
             "quiet team: ½ min / min / all bound after | pods on hot nodes (capacity) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        quota, back = row["quota"], row["give_back"]
        worst = f" (worst {quota['over_max_worst'] * 100:.0f} % of max)" if quota["over_max_worst"] else ""
        weighted = (f"{_pct(quota['weighted_share'])} ({_pct(quota['expected_weighted_share'])}, "
                    f"{quota['sibling_pairs_waiting']} samples)" if quota["weighted_share"] is not None else "n/a")
        lines.append(
            f"| {row['backend']} | {'kit' if row['kit'] else 'stock'} | {row['bound']}/{row['pods']} | "
            f"{_f(row['bound_per_second'])} | {_f(row['steady_bound_per_second'])} | {row['bound_first_minute']} | "
            f"{_f(row['latency_p50'], 2, ' s')} | {_f(row['latency_p99'], 2, ' s')} | "
            f"{quota['over_max_samples']}{worst} | {_pct(quota['waiting_below_min_share'])} | {weighted} | "
            f"{_f(back['half_min_after'], 0, ' s')} / {_f(back['full_min_after'], 0, ' s')} / "
            f"{_f(back['all_bound_after'], 0, ' s')} | "
            f"{_pct(row['hot_share'])} ({_pct(row['hot_capacity_share'])}) |")
    lines += ["", "Where the CPU went during each run (CPU seconds of each process; the machine's cores are "
              "shared by all of them):", "",
              "| scheduler | config | run s | " + " | ".join(PROCESS_COLUMNS)
              + " | refused creations | longest wait on a client's own rate limit |",
              "|---|---|---|" + "---|" * len(PROCESS_COLUMNS) + "---|---|"]
    for row in rows:
        cpu = row["cpu_seconds"]
        cells = []
        for column in PROCESS_COLUMNS:
            if column == "scheduler(s)":
                cells.append(_f(row["scheduler_cpu_seconds"], 0))
            else:
                cells.append(_f(cpu.get(column), 0))
        throttled = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(row["client_throttling"].items())
                              if seconds is not None) or "none logged"
        lines.append(f"| {row['backend']} | {'kit' if row['kit'] else 'stock'} | {_f(row['seconds'], 0)} | "
                     + " | ".join(cells) + f" | {row['refused_creations']} | {throttled} |")
    return "\n".join(lines) + "\n"


PROCESS_COLUMNS = ("scheduler(s)", "kube-apiserver", "etcd", "kwok", "kube-controller-manager", "bench harness")


def plot(runs: Iterable[Mapping[str, Any]], path: str, title: str) -> None:
    """Bound pods over time, one line per run (kit solid, stock dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"default": "tab:blue", "koordinator": "tab:orange", "volcano": "tab:green"}
    figure, axis = plt.subplots(figsize=(9, 5))
    for data in runs:
        times = sorted(pod["bound"] for pod in data["pods"].values() if pod["bound"] is not None)
        axis.step(times, range(1, len(times) + 1), where="post", color=colors.get(data["backend"], "black"),
                  linestyle="-" if data["kit"] else "--", label=data["label"])
    axis.set_xlabel("seconds since the first submission")
    axis.set_ylabel("pods bound")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_data(run_label: str, backend: str, kit: bool, scale: workload.Scale, recording: Any,
             scheduler_processes: list[str], setup_seconds: Mapping[str, float]) -> dict[str, Any]:
    tree = workload.teams(scale)
    hot = sorted(workload.hot_nodes(scale))
    shapes = {name: workload.node_shape(scale, index) for index, name in enumerate(workload.node_names(scale))}
    return {
        "label": run_label, "backend": backend, "kit": kit, "scale": scale.describe(),
        "tree": tree, "late_team": workload.late_team(tree),
        "late_team_first_created": recording.late_team_first_created,
        "capacity_cpu": workload.capacity_cpu(scale), "hot_nodes": hot,
        "hot_capacity_cpu": sum(shapes[name].cpu for name in hot),
        "task_sizes": [{"name": s.name, "cpu": s.cpu, "memory": s.memory} for s in workload.TASK_SIZES],
        "pods": {name: {"team": r.team, "cpu": r.cpu, "size": r.size, "created": r.created, "bound": r.bound,
                        "node": r.node, "finished": r.finished} for name, r in recording.pods.items()},
        "samples": recording.samples, "refused": recording.refused, "ended": recording.ended,
        "cpu_seconds": recording.cpu_seconds, "scheduler_processes": scheduler_processes,
        "setup_seconds": dict(setup_seconds),
    }


LEGEND = """
How to read it:
- **kit**: the kit's stack applied by `pulumi up` (quotas or queues, priority classes, pod templates)
  and the scheduler configuration the real chart renders with the kit's values; **stock**: the
  same pods without the kit's marks, the scheduler with its chart's own configuration (kube-scheduler:
  its defaults either way; the kit adds the PriorityClasses, the namespace ResourceQuota and LimitRange).
- **bound/s**: bindings per second over the whole run (first creation to last binding) and over the
  middle 80 % of bindings. The workload asks for ~1.7x the cluster's cpu, so from the moment the
  cluster is full pods bind only as others finish: the run's rate is set by task runtimes there,
  not by the scheduler; the first minute (see the plot) is where schedulers differ.
- **create→bind**: from the creating POST's answer to the watch showing `nodeName`.
- **over max**: (sample, team) pairs, one sample a second, where a team's bound cpu (its subtree's
  for a parent) was above its `max`.
- **waiting teams below min**: while the cluster is full (90 % of its cpu bound), of the samples
  where a team had a pod unbound for over 10 s, the share in which it held less than its `min`
  (less the smallest task): its guarantee not kept.
- **1st sibling's share of borrowed**: while the cluster is full and two sibling teams both wait
  and both hold more than their min, the first one's part of what they borrow beyond their mins;
  in brackets what their weights (3:1) say.
- **quiet team**: a team that submits nothing until half of the tasks were submitted, then its
  whole share at once, while the others have borrowed its min: seconds from its first pod until it
  holds half its min, and until all its pods are bound.
- **pods on hot nodes**: 10 % of the nodes report 90 % cpu use (NodeMetric for koord-scheduler,
  Prometheus' query API for Volcano's usage plugin); in brackets their share of the cluster's cpu.
"""
