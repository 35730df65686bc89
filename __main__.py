"""airflow-kit: `pulumi up` deploys the stack in stacks/Pulumi.<stack>.yaml."""

from components.program import run

run()
