"""airflow-kit: `pulumi up` deploys the stack in stacks/Pulumi.<stack>.yaml."""

from airflow_kit_platform.program import run

run()
