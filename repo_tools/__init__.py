"""This repository's own tooling, not part of the kit's distribution: the CLI behind `make up`,
`make dag` and `make down` (cli), the kit's local node driver (local_cluster) and the Airflow REST
API client they use (airflow_api). They run from a checkout: they drive scripts/ and stacks/.
"""
