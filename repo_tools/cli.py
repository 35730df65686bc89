"""The README's commands: `make up`, `make dag`, `make credentials`, `make down`.

    python -m repo_tools.cli up [--stack STACK] [--cluster auto|kit|current]
    python -m repo_tools.cli dag [DAG_ID] [--stack STACK] [--timeout SECONDS]
    python -m repo_tools.cli credentials [--stack STACK]
    python -m repo_tools.cli down [--stack STACK]

`up` deploys to the kubeconfig's current context when it answers; with no cluster it starts the
kit's own local node first (repo_tools/local_cluster.py) and deploys stack `local-node`. Anything
missing is one line naming it and the command that fixes it; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Iterator, Optional

from airflow_kit_platform.airflow.chart_names import API_SERVER_PORT, CHART
from airflow_kit_platform.settings import DEFAULT_NAMESPACE
from repo_tools import local_cluster
from repo_tools.airflow_api import AirflowApi, AirflowApiError, TaskSummary, log_errors, log_text
from repo_tools.harness import free_port
from repo_tools.local_cluster import Cluster, SetupError

DEFAULT_DAG = "kit_kubernetes_teams"  # a task per team in its own pod, in the team's fused image
# What the last `make up` deployed, so `make dag` and `make down` need no arguments.
DEPLOYMENT_RECORD = local_cluster.REPO / ".pulumi-state" / "airflow-kit-deployment.json"


def say(message: str) -> None:
    print(f"airflow-kit: {message}", flush=True)


def pulumi(*args: str, cluster: Optional[Cluster] = None, capture: bool = False,
           check: bool = True) -> subprocess.CompletedProcess:
    env = local_cluster.tools_env()
    if (local_cluster.TOOLS_BIN / "pulumi").exists():  # the kit's build: its plugins are beside it
        env.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", "")
    if cluster is not None:
        env["KUBECONFIG"] = cluster.kubeconfig
    stack_files = {path: path.read_bytes() for path in (local_cluster.REPO / "stacks").glob("Pulumi.*.yaml")}
    try:
        result = subprocess.run([local_cluster.tool("pulumi") or "pulumi", *args, "--non-interactive"], env=env,
                                cwd=local_cluster.REPO, text=True, capture_output=capture)
    finally:
        # Pulumi rewrites a stack file it touches (comments dropped, the passphrase salt added); the
        # salt is kept in the state too, so the kit's own commands leave the tracked files as they were.
        for path, content in stack_files.items():
            if path.read_bytes() != content:
                path.write_bytes(content)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
        raise SetupError(f"`pulumi {' '.join(args)}` failed" + (f": {detail[0]}" if detail else " (its output is above)"))
    return result


def record(stack: str, cluster: Cluster) -> None:
    DEPLOYMENT_RECORD.parent.mkdir(parents=True, exist_ok=True)
    DEPLOYMENT_RECORD.write_text(json.dumps({"stack": stack, "kubeconfig": cluster.kubeconfig,
                                             "context": cluster.context, "server": cluster.server,
                                             "kitNode": cluster.kit_node}, indent=2))


def recorded() -> Optional[dict]:
    try:
        return json.loads(DEPLOYMENT_RECORD.read_text())
    except (OSError, ValueError):
        return None


def deployed(stack: Optional[str]) -> tuple[str, Cluster]:
    """The stack and cluster of the last `make up` (or `stack` on the current context)."""
    last = recorded()
    if last and (stack is None or stack == last["stack"]):
        cluster = Cluster(last["kubeconfig"], last.get("context"), last.get("server", "?"), last.get("kitNode", False))
        problem = local_cluster.reach_error(cluster.kubeconfig, cluster.context)
        if problem:
            raise SetupError(f"stack {last['stack']} was deployed to {cluster.describe()}, which is not reachable "
                             f"now ({problem}): `make up` again")
        return last["stack"], cluster
    if stack is None:
        raise SetupError("nothing deployed from this checkout yet: `make up` first (or pass STACK=NAME)")
    return stack, local_cluster.choose("current")


def stack_resources(stack: str) -> int:
    exported = pulumi("stack", "export", "--stack", stack, capture=True, check=False)
    if exported.returncode != 0:
        return 0
    return len((json.loads(exported.stdout).get("deployment") or {}).get("resources") or [])


def outputs(stack: str, cluster: Cluster, secrets: bool = False) -> dict:
    args = ["stack", "output", "--json", "--stack", stack] + (["--show-secrets"] if secrets else [])
    return json.loads(pulumi(*args, cluster=cluster, capture=True).stdout or "{}")


def api_service_address(cluster: Cluster, namespace: str) -> str:
    """The API server Service's cluster IP (reachable from the kit's node itself)."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=cluster.kubeconfig, context=cluster.context))
    return api.read_namespaced_service(CHART.api_server_service, namespace, _request_timeout=10).spec.cluster_ip


def access_lines(stack: str, cluster: Cluster, values: dict) -> list[str]:
    namespace = values.get("namespace", DEFAULT_NAMESPACE)
    if cluster.kit_node:
        address = api_service_address(cluster, namespace)
        url = f"http://{address}:{API_SERVER_PORT}   (the Service's address; this machine is the node)"
    else:
        url = (f"http://localhost:{API_SERVER_PORT} after `kubectl -n {namespace} port-forward "
               f"svc/{CHART.api_server_service} {API_SERVER_PORT}:{API_SERVER_PORT}`")
    return [
        f"Airflow UI and API: {url}",
        f"admin user:         {values.get('adminUser', 'admin')}; password: `make credentials` "
        f"(= pulumi stack output adminPassword --show-secrets --stack {stack})",
        f"run a DAG:          make dag DAG={DEFAULT_DAG}   (reference DAGs: kit_celery_pools, kit_pod_operator, ...)",
        "tear down:          make down" + ("   (destroys the stack, stops the node, undoes its host changes)"
                                           if cluster.kit_node else "   (destroys the stack)"),
    ]


def check_stack(stack: str) -> None:
    """The stack's config and chart source, checked before a node starts or the engine runs (the
    program checks both again: `pulumi up` by hand gets the same lines)."""
    from airflow_kit_platform import chart_source
    from airflow_kit_platform.config_reader import ConfigError
    from airflow_kit_platform.workloads.worker_image import load_stack_settings

    if not (local_cluster.REPO / "stacks" / f"Pulumi.{stack}.yaml").exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (local_cluster.REPO / "stacks").glob("Pulumi.*.yaml"))
        raise SetupError(f"STACK={stack}: no stacks/Pulumi.{stack}.yaml; known stacks: {', '.join(known)}")
    try:
        problem = chart_source.chart_source_problem(load_stack_settings(stack))
    except ConfigError as error:
        problem = error
    if problem is not None:
        raise SetupError(str(problem))


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    problem = local_cluster.pulumi_missing()
    if problem:
        raise SetupError(problem)
    cluster = local_cluster.choose(args.cluster)
    on_kit_node = cluster is None or cluster.kit_node
    stack = args.stack or (local_cluster.NODE_STACK if on_kit_node else local_cluster.CLUSTER_STACK)
    check_stack(stack)
    fresh_node = False
    if cluster is None:
        say("no reachable cluster: starting the kit's local node (one real node on this machine: "
            "containerd, kubelet, the images built by `make setup`)")
        cluster = local_cluster.start_node(stack)
        fresh_node = True
        say(f"node ready after {time.monotonic() - started:.0f} s")
    say(f"deploying stack {stack} to {cluster.describe()}")
    pulumi("stack", "select", "--create", stack, cluster=cluster, capture=True)
    if fresh_node and stack_resources(stack):
        say(f"stack {stack} remembers objects of an earlier node: refreshing its state first")
        pulumi("refresh", "--yes", "--skip-preview", "--stack", stack, cluster=cluster)
    deploy_started = time.monotonic()
    if pulumi("up", "--yes", "--skip-preview", "--stack", stack, cluster=cluster, check=False).returncode != 0:
        raise SetupError(f"pulumi up of stack {stack} failed (the engine's message is above); "
                         "fix it and `make up` again")
    record(stack, cluster)
    say(f"stack {stack} is up: pulumi up {time.monotonic() - deploy_started:.0f} s, "
        f"make up {time.monotonic() - started:.0f} s in all")
    for line in access_lines(stack, cluster, outputs(stack, cluster)):
        print(f"  {line}")
    return 0


@contextlib.contextmanager
def api_url(cluster: Cluster, namespace: str) -> Iterator[str]:
    """The API server's URL from this machine: the Service address on the kit's node (kube-proxy
    routes it), a `kubectl port-forward` elsewhere (stopped on exit)."""
    if cluster.kit_node:
        yield f"http://{api_service_address(cluster, namespace)}:{API_SERVER_PORT}"
        return
    kubectl = local_cluster.tool("kubectl")
    if kubectl is None:
        raise SetupError("kubectl is not installed (needed for a port-forward to the API server): `make setup`")
    port = free_port()
    context = ["--context", cluster.context] if cluster.context else []
    forward = subprocess.Popen([kubectl, "--kubeconfig", cluster.kubeconfig, *context, "-n", namespace,
                                "port-forward", f"svc/{CHART.api_server_service}", f"{port}:{API_SERVER_PORT}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def cmd_dag(args: argparse.Namespace) -> int:
    stack, cluster = deployed(args.stack)
    values = outputs(stack, cluster, secrets=True)
    started = time.monotonic()
    with api_url(cluster, values.get("namespace", DEFAULT_NAMESPACE)) as base:
        api = AirflowApi(base, values["adminUser"], values["adminPassword"])
        api.wait_for_dags({args.dag_id})
        run_id = api.trigger(args.dag_id)
        say(f"triggered {args.dag_id} (run {run_id}) on stack {stack} through {base}")
        seen: dict[str, Optional[str]] = {}

        def progress(_run: dict) -> None:
            for task in api.task_instances(args.dag_id, run_id):
                summary = TaskSummary.of(task)
                if seen.get(summary.task_id) != summary.state and summary.state:
                    seen[summary.task_id] = summary.state
                    print(f"  {time.monotonic() - started:5.0f} s  {summary.task_id}: {summary.state}", flush=True)

        run = api.wait_for_run(args.dag_id, run_id, timeout=args.timeout, progress=progress)
        tasks = api.task_instances(args.dag_id, run_id)
        for task in tasks:
            summary = TaskSummary.of(task)
            took = f"{summary.seconds:.0f} s" if summary.seconds is not None else "-"
            print(f"  {summary.task_id}: {summary.state} on {summary.executor} ({took})")
        if run["state"] != "success":
            reasons = []
            for task in tasks:
                if task.get("state") not in ("success", "skipped"):
                    body = api.task_log_body(args.dag_id, run_id, task)
                    log = log_text(body).strip().splitlines()[-15:]
                    print(f"--- {task['task_id']} (last lines of its log)\n" + "\n".join(log))
                    errors = log_errors(body)
                    if errors:
                        reasons.append(f"{TaskSummary.of(task).task_id}: {errors[-1]}")
            raise SetupError(f"DAG {args.dag_id} run {run_id}: {run['state']} after "
                             f"{time.monotonic() - started:.0f} s" + (f" ({'; '.join(reasons)})" if reasons else ""))
    say(f"DAG {args.dag_id}: success in {time.monotonic() - started:.0f} s ({len(tasks)} tasks)")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    stack, cluster = deployed(args.stack)
    values = outputs(stack, cluster, secrets=True)
    print(f"user: {values.get('adminUser')}\npassword: {values.get('adminPassword')}")
    return 0


def delete_task_pods(cluster: Cluster, namespace: Optional[str], timeout: float = 120) -> int:
    """Delete the teams' task pods (finished ones the executor had no time to remove, or running
    ones): Pulumi does not own them, and while one exists the logs volume cannot be deleted."""
    from kubernetes import client, config

    from airflow_kit_platform.model.names import TEAM_LABEL

    if not namespace:
        return 0
    api = client.CoreV1Api(config.new_client_from_config(config_file=cluster.kubeconfig, context=cluster.context))
    pods = api.list_namespaced_pod(namespace, label_selector=TEAM_LABEL, _request_timeout=30).items
    for pod in pods:
        api.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=5, _request_timeout=30)
    deadline = time.monotonic() + timeout
    while pods and time.monotonic() < deadline:
        if not api.list_namespaced_pod(namespace, label_selector=TEAM_LABEL, _request_timeout=30).items:
            break
        time.sleep(2)
    return len(pods)


def cmd_down(args: argparse.Namespace) -> int:
    last = recorded()
    stack = args.stack or (last or {}).get("stack")
    if stack is None and not local_cluster.NODE_DIR.exists():
        say("nothing deployed from this checkout: nothing to tear down")
        return 0
    node = local_cluster.node_running()
    destroyed = True
    if stack and (node or not (last or {}).get("kitNode")):
        try:
            _, cluster = deployed(stack)
            stack_outputs = outputs(stack, cluster)
            # Team namespaces hold logs claims too (airflow.logsVolume.source).
            namespaces = {stack_outputs.get("namespace"), *(stack_outputs.get("taskNamespaces") or [])}
            removed = sum(delete_task_pods(cluster, namespace) for namespace in sorted(filter(None, namespaces)))
            if removed:
                say(f"deleted {removed} task pod(s) the executor had not removed yet (they hold the logs volume)")
            say(f"destroying stack {stack} on {cluster.describe()}")
            destroyed = pulumi("destroy", "--yes", "--skip-preview", "--stack", stack, cluster=cluster,
                               check=False).returncode == 0
        except SetupError as error:
            say(f"stack {stack} not destroyed: {error}")
            destroyed = False
    if local_cluster.stop_node():
        say("the kit's local node is stopped and its host changes undone"
            + ("" if destroyed else f"; the next `make up` refreshes stack {stack}'s state"))
    if last and destroyed:
        DEPLOYMENT_RECORD.unlink(missing_ok=True)
    return 0 if destroyed else 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m repo_tools.cli", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="deploy a stack (starting the kit's node when no cluster answers)")
    up.add_argument("--stack", default=None)
    up.add_argument("--cluster", default="auto", help="auto (default), kit or current")
    up.set_defaults(run=cmd_up)
    dag = commands.add_parser("dag", help="trigger a reference DAG through the REST API and follow it")
    dag.add_argument("dag_id", nargs="?", default=DEFAULT_DAG)
    dag.add_argument("--stack", default=None)
    dag.add_argument("--timeout", type=float, default=900)
    dag.set_defaults(run=cmd_dag)
    credentials = commands.add_parser("credentials", help="the web admin's user and password")
    credentials.add_argument("--stack", default=None)
    credentials.set_defaults(run=cmd_credentials)
    down = commands.add_parser("down", help="destroy the stack; stop the kit's node")
    down.add_argument("--stack", default=None)
    down.set_defaults(run=cmd_down)
    return root


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    for key in ("stack",):
        if getattr(args, key, None) == "":
            setattr(args, key, None)
    try:
        return args.run(args)
    except (SetupError, AirflowApiError) as error:
        print(f"airflow-kit: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("airflow-kit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `make credentials | head -1`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (nothing more may reach the closed pipe)
        return 0
    except Exception as error:  # a bug of the kit's: still one line, the traceback on request
        if os.environ.get("AIRFLOW_KIT_DEBUG"):
            raise
        print(f"airflow-kit: unexpected {type(error).__name__}: {error} (AIRFLOW_KIT_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
