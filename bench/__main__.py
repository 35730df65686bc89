"""`python -m bench [--smoke] [--backends ...] [--configs kit stock] [--airflow]`: the benchmark.

For each backend and config: a fresh local control plane with kwok nodes, the kit's stack
(`pulumi up`) or none (stock), the real scheduler, the workload of bench.workload; then the
results table and plot under bench/results/<full|smoke>/. Runs that cannot be made here (a
tool not built, no reference charts) are reported as skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import signal
import subprocess
import sys
import time

from bench import report, workload
from bench.cluster import BACKENDS, SCHEDULER_TOOLS, bring_up, tools_env
from bench.drive import NodeMetricFeeder, UsageSource, drive, node_usage
from repo_tools.harness import Missing

ROOT = pathlib.Path(__file__).resolve().parent
TIMEOUTS = {"full": 1500.0, "smoke": 300.0}


def machine() -> str:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    memory = next((int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo")
                   if line.startswith("MemTotal")), 0)
    return f"{cpus} cores ({model}), {memory} GiB RAM, {platform.system()} {platform.release()}"


def versions_line() -> str:
    """The versions scripts/tools.sh builds (airflow_kit_platform.versions, and scripts/build-versions.sh
    where it builds another version than the product pins)."""
    from airflow_kit_platform import versions
    from repo_tools.harness import build_versions

    return (f"kube-apiserver/kube-scheduler/kube-controller-manager {versions.KUBERNETES_VERSION}, "
            f"etcd {versions.ETCD_VERSION}, kwok {versions.KWOK_VERSION}, koord-scheduler "
            f"{versions.KOORDINATOR_VERSION} (chart {versions.KOORDINATOR_CHART_VERSION}'s configuration), Volcano "
            f"vc-scheduler/vc-controller-manager {build_versions()['VOLCANO_BUILD_VERSION']} (chart "
            f"{versions.VOLCANO_CHART_VERSION}'s configuration)")


def one_run(backend: str, kit: bool, scale: workload.Scale, work: pathlib.Path, timeout: float,
            env: dict[str, str]) -> dict:
    label = f"{backend} ({'kit' if kit else 'stock'})"
    usage_source = UsageSource(node_usage(scale)) if backend == "volcano" else None
    feeder = None
    run = None
    try:
        run = bring_up(backend, kit, scale, work / f"{backend}-{'kit' if kit else 'stock'}",
                       usage_source.address if usage_source else None, env)
        if backend == "koordinator":
            feeder = NodeMetricFeeder(run.api, scale)
        if usage_source is not None and kit:  # only the kit's configuration turns the usage plugin on
            usage_source.wait_asked_for_every_node()
        print(f"bench: {label}: up ({', '.join(f'{k} {v:.0f} s' for k, v in run.setup_seconds.items())})",
              flush=True)
        recording = drive(run, timeout)
        data = report.run_data(label, backend, kit, scale, recording, list(SCHEDULER_TOOLS[backend]),
                               run.setup_seconds)
        if usage_source is not None:
            data["usage_queries"] = usage_source.queries
        if feeder is not None:
            data["nodemetric_refreshes"] = feeder.refreshes
        return data
    finally:
        if feeder is not None:
            feeder.stop()
        if run is not None:
            run.stop()
        if usage_source is not None:
            usage_source.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"the CI size: {workload.SMOKE.describe()}")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--configs", nargs="+", choices=("kit", "stock"), default=["kit", "stock"])
    parser.add_argument("--out", type=pathlib.Path, default=None, help="results folder (default bench/results/<size>)")
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "work", help="clusters' folders and raw data")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the table and plot from the raw data of earlier runs in --work")
    args = parser.parse_args(argv)
    # A stopped benchmark stops its clusters too (the runs' `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    size = "smoke" if args.smoke else "full"
    scale = workload.SMOKE if args.smoke else workload.FULL
    out = args.out or ROOT / "results" / size
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        return write_results(out, args, scale, size, [json.loads((args.work / size / f"{backend}-{config}.json")
                                                                 .read_text())
                                                      for backend in args.backends for config in args.configs
                                                      if (args.work / size / f"{backend}-{config}.json").exists()],
                             [], [], None)
    try:
        env = tools_env()
    except Missing as missing:
        print(f"bench: skipped: {missing}", file=sys.stderr)
        return 2
    runs, skipped, failed = [], [], []
    started = time.perf_counter()
    for backend in args.backends:
        for config in args.configs:
            label = f"{backend} ({config})"
            try:
                data = one_run(backend, config == "kit", scale, args.work / size, TIMEOUTS[size], env)
            except Missing as missing:
                skipped.append(f"{label}: {missing}")
                print(f"bench: {label}: skipped: {missing}", file=sys.stderr)
                continue
            except Exception as error:  # noqa: BLE001  (one broken run must not hide the others)
                failed.append(f"{label}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
                print(f"bench: {label}: failed: {error}", file=sys.stderr)
                continue
            (args.work / size).mkdir(parents=True, exist_ok=True)
            (args.work / size / f"{backend}-{config}.json").write_text(json.dumps(data))
            row = report.summarize(data)
            runs.append(data)
            print(f"bench: {label}: {row['bound']}/{row['pods']} bound in {row['seconds']:.0f} s, "
                  f"{report._f(row['steady_bound_per_second'])} bound/s steady, "
                  f"p99 {report._f(row['latency_p99'], 2)} s", flush=True)
    return write_results(out, args, scale, size, runs, skipped, failed, time.perf_counter() - started)


def with_logs(data: dict, work: pathlib.Path) -> dict:
    """The run's process logs (kept in its folder until the next run of the same kind) add how
    long each client waited on its own rate limit."""
    logs = work / f"{data['backend']}-{'kit' if data['kit'] else 'stock'}" / "cluster" / "logs"
    if logs.is_dir():
        data["client_throttling"] = {path.stem: report.client_throttling(path.read_text(errors="replace"))
                                     for path in sorted(logs.glob("*.log"))}
    return data


def write_results(out: pathlib.Path, args: argparse.Namespace, scale: workload.Scale, size: str, runs: list[dict],
                  skipped: list[str], failed: list[str], seconds: float | None) -> int:
    rows = [report.summarize(with_logs(data, args.work / size)) for data in runs]
    header = (f"# Scheduling benchmark ({size}: {scale.describe()})\n\n"
              f"Machine: {machine()}. Versions: {versions_line()}.\n"
              f"Generated by `python -m bench{' --smoke' if args.smoke else ''}`"
              f"{f' in {seconds:.0f} s' if seconds is not None else ''} on {time.strftime('%Y-%m-%d')}.")
    if skipped:
        header += "\n\nSkipped: " + "; ".join(skipped)
    if failed:
        header += "\n\nFailed: " + "; ".join(failed)
    (out / "results.md").write_text(report.markdown(rows, header) + report.LEGEND)
    (out / "summary.json").write_text(json.dumps(rows, indent=1, sort_keys=True))
    if runs:
        report.plot(runs, str(out / "bound-over-time.png"), f"Pods bound over time ({scale.describe()})")
    print(f"bench: results in {out}")
    return 1 if failed else 0 if rows else 2


if __name__ == "__main__":
    sys.exit(main())
