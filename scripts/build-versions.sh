# Sourced by scripts/tools.sh (and read by tests/contract): the toolchain versions it builds where the
# Go module proxy does not serve the product's pins (components/versions.py).
# - volcano.sh/volcano 1.15.x and volcano.sh/apis >= 1.14.1 are refused by the proxy, and
#   volcano.sh/volcano replaces volcano.sh/apis with a ./staging path its module zip lacks:
#   the tests build the scheduler at 1.14.1 against the served apis 1.14.0 (users still get
#   the chart's VOLCANO_CHART_VERSION).
VOLCANO_BUILD_VERSION="1.14.1"
VOLCANO_APIS_BUILD_VERSION="1.14.0"
# What scripts/tools.sh can actually build: the Go module proxy reachable here serves only
# some module versions (checked 2026-11-26; a refused one answers
# `403 Forbidden ... This module version is not available`).
# - github.com/pulumi/pulumi/pkg/v3 is refused at v3.270.0-v3.273.x (so at PULUMI_CLI_VERSION);
#   v3.274.1 is served. A newer CLI runs the pip `pulumi` SDK of PYTHON_PACKAGES fine.
PULUMI_CLI_BUILD_VERSION="3.274.1"
# - github.com/pulumi/pulumi-kubernetes/provider/v4 (no tags of its own) is served only at this
#   pseudo-version: a commit from the day before the v4.25.0 release, built with the
#   sdk/v4 v4.25.0 module beside it (its go.mod replaces sdk/v4 => ../sdk). The v4.32.0 commit
#   is refused. The plugin reports PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION.
PULUMI_KUBERNETES_PROVIDER_BUILD_MODULE="v4.0.0-20260115033456-f47bc2d6f199"
PULUMI_KUBERNETES_PROVIDER_BUILD_SDK="v4.25.0"
PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION="4.25.0-alpha.20260115"
# - github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 and
#   github.com/pulumi/pulumi-random/provider/v4 are refused at every version: the kit generates
#   its secrets with a dynamic resource the Python SDK serves (components/airflow/generated_secrets.py).
