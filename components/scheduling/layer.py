"""SchedulingLayer: creates one SchedulingPlan's resources (thin: the logic is in the builders).

The design and why: docs/scheduling-layer.md.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi

from airflow_kit_platform.k8s_objects import create_chart, create_object
from airflow_kit_platform.model.names import CHART_OVERRIDE_ANNOTATION
from airflow_kit_platform.scheduling.backend import ChartSpec, SchedulingPlan
from airflow_kit_platform.scheduling.plans import QUEUE_KINDS, scheduling_notes, with_quota_labels
from airflow_kit_platform.settings import Settings

CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
_IDENTITY_KEYS = ("name", "schedulerName")
_MISSING = object()


# --- chart-owned configuration: pure functions ----------------------------------------

def type_token(manifest: Mapping[str, Any]) -> str:
    """The Pulumi type of a built-in kind: `v1` ConfigMap -> kubernetes:core/v1:ConfigMap."""
    group, _, version = manifest["apiVersion"].rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{manifest['kind']}"


def is_chart_override(manifest: Mapping[str, Any]) -> bool:
    return CHART_OVERRIDE_ANNOTATION in (manifest.get("metadata", {}).get("annotations") or {})


def _identity(items: Sequence[Any]) -> Optional[str]:
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in _IDENTITY_KEYS:
        if all(key in item for item in items):
            return key
    return None


def merge_documents(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386), plus: lists of maps merge item by item on a name key."""
    if isinstance(patch, Mapping):
        merged = dict(base) if isinstance(base, Mapping) else {}
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = merge_documents(merged.get(key, _MISSING), value)
        return merged
    if isinstance(patch, list) and isinstance(base, list):
        key = _identity(patch)
        if key is not None and _identity(base) == key:
            merged_list = list(base)
            for item in patch:
                index = next((i for i, old in enumerate(merged_list) if old[key] == item[key]), None)
                if index is None:
                    merged_list.append(merge_documents(_MISSING, item))
                else:
                    merged_list[index] = merge_documents(merged_list[index], item)
            return merged_list
    if isinstance(patch, list):
        return [merge_documents(_MISSING, item) for item in patch]
    return patch


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(item) for item in value]
    return value


def merge_config_text(base_text: Optional[str], patch_text: str) -> str:
    """Merge the kit's configuration text into the chart's, keeping the chart's format."""
    import yaml

    patch = yaml.safe_load(patch_text)
    if not isinstance(base_text, str) or not base_text.strip():
        base, as_json = _MISSING, patch_text.lstrip().startswith("{")
    else:
        try:
            base, as_json = json.loads(base_text), True
        except ValueError:
            try:
                base, as_json = yaml.safe_load(base_text), False
            except yaml.YAMLError:
                base, as_json = _MISSING, False
    if not isinstance(base, Mapping) or not isinstance(patch, Mapping):
        merged = _strip_nulls(patch)
    else:
        merged = merge_documents(base, patch)
    if as_json:
        return json.dumps(merged, indent=2)
    return yaml.safe_dump(merged, sort_keys=False)


def apply_override(props: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The chart object's properties with the kit's override merged in."""
    result = dict(props)
    data = dict(result.get("data") or {})
    for key, text in override.get("data", {}).items():
        data[key] = merge_config_text(data.get(key), text)
    result["data"] = data
    metadata = dict(result.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.update(override["metadata"].get("annotations") or {})
    metadata["annotations"] = annotations
    result["metadata"] = metadata
    return result


def _override_key(type_: str, metadata: Any, default_namespace: str) -> Optional[tuple[str, str, str]]:
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        return None
    namespace = metadata.get("namespace")
    return type_, namespace if isinstance(namespace, str) and namespace else default_namespace, metadata["name"]


def chart_transform(spec: ChartSpec, overrides: Sequence[Mapping[str, Any]], retain_crds: bool,
                    applied: Optional[set] = None) -> Callable[[pulumi.ResourceTransformArgs],
                                                               Optional[pulumi.ResourceTransformResult]]:
    """A transform for the chart's children: merge the overrides, retain the CRDs."""
    index = {}
    for manifest in overrides:
        key = _override_key(type_token(manifest), manifest["metadata"], spec.namespace)
        index[key] = manifest
    applied = applied if applied is not None else set()

    def transform(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
        if retain_crds and args.type_ == CRD_TYPE:
            return pulumi.ResourceTransformResult(
                props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(
                    retain_on_delete=True)))
        if not index or not isinstance(args.props, Mapping):
            return None
        key = _override_key(args.type_, args.props.get("metadata"), spec.namespace)
        override = index.get(key) if key is not None else None
        if override is None:
            return None
        applied.add(key)
        return pulumi.ResourceTransformResult(props=apply_override(args.props, override), opts=args.opts)

    transform.expected = set(index)  # type: ignore[attr-defined]
    transform.applied = applied  # type: ignore[attr-defined]
    return transform


# --- the component ------------------------------------------------------------------

def _dependencies(opts: Optional[pulumi.ResourceOptions]) -> list:
    depends_on = opts.depends_on if opts is not None else None
    if depends_on is None:
        return []
    if isinstance(depends_on, pulumi.Resource):
        return [depends_on]
    if isinstance(depends_on, (list, tuple)):
        return [item for item in depends_on if isinstance(item, pulumi.Resource)]
    return []


class SchedulingLayer(pulumi.ComponentResource):
    """Charts, then core objects, then queues/quotas of one scheduling backend."""

    def __init__(self, name: str, settings: Settings, plan: SchedulingPlan,
                 opts: Optional[pulumi.ResourceOptions] = None, *, retain_on_delete: Optional[bool] = None,
                 quota_labels: Mapping[str, Mapping[str, str]] = {}):
        """`retain_on_delete`: default `settings.scheduler.retain_queues` (stack key
        `scheduler.retainQueues`, true by default). `quota_labels`: extra labels per team for its queue/quota, e.g.
        `QueuePlan.quota_labels` (koord-queue's queue policy)."""
        super().__init__("airflow-kit:scheduling:SchedulingLayer", name, None, opts)
        plan = with_quota_labels(plan, quota_labels)
        retain = (retain_on_delete if retain_on_delete is not None
                  else settings.scheduler.retain_queues)
        after_namespace = _dependencies(opts)

        overrides: dict[str, list[Mapping[str, Any]]] = {}
        core = []
        releases = {spec.release for spec in plan.charts}
        for manifest in plan.core_objects:
            if not is_chart_override(manifest):
                core.append(manifest)
                continue
            release = manifest["metadata"]["annotations"][CHART_OVERRIDE_ANNOTATION]
            if release not in releases:
                raise ValueError(f"{manifest['kind']} {manifest['metadata']['name']} overrides chart release "
                                 f"{release!r}, which this plan does not install ({sorted(releases) or 'none'})")
            overrides.setdefault(release, []).append(manifest)

        self.charts: dict[str, pulumi.Resource] = {}
        for spec in plan.charts:
            transform = chart_transform(spec, overrides.get(spec.release, []), retain_crds=retain)
            chart = create_chart(spec, opts=pulumi.ResourceOptions(parent=self, transforms=[transform]))
            self.charts[spec.release] = chart
            if transform.expected:  # type: ignore[attr-defined]
                self._warn_unapplied(spec, chart, transform)

        self.core_objects = [
            create_object(manifest, opts=pulumi.ResourceOptions(parent=self, depends_on=after_namespace))
            for manifest in core]
        self.custom_resources = [
            create_object(manifest, opts=pulumi.ResourceOptions(
                parent=self, depends_on=after_namespace + list(self.charts.values()), retain_on_delete=retain))
            for manifest in plan.custom_resources]

        for note in scheduling_notes(settings):
            pulumi.log.info(note, resource=self)

        marks = list(plan.pod_marks.values())
        self.backend = plan.backend
        self.scheduler_name = marks[0].scheduler_name if marks else settings.scheduler.scheduler_name
        self.installed_charts = [spec.release for spec in plan.charts]
        self.queue_names = [m["metadata"]["name"] for m in plan.custom_resources if m["kind"] in QUEUE_KINDS]
        self.register_outputs({
            "backend": self.backend,
            "schedulerName": self.scheduler_name,
            "installedCharts": self.installed_charts,
            "queues": self.queue_names,
            "retainOnDelete": retain,
        })

    def _warn_unapplied(self, spec: ChartSpec, chart: Any, transform: Any) -> None:
        resources = getattr(chart, "resources", None)
        if not isinstance(resources, pulumi.Output):
            return

        def check(rendered: Any) -> None:
            if rendered is None:  # unknown (mocks): nothing to say
                return
            for _, namespace, name in sorted(transform.expected - transform.applied):
                pulumi.log.warn(f"chart {spec.release} {spec.version} renders no {namespace}/{name}: the kit's "
                                "settings for it were not applied", resource=self)

        resources.apply(check)
