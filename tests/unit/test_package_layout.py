"""The components live in `components/` (the design card's layout) and import as
`airflow_kit_platform`: the distribution maps the name, and lists every subpackage."""

import pathlib

import tomllib

from tests.support.stacks import REPO


def test_the_distribution_ships_every_subpackage_of_components():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert project["package-dir"] == {"airflow_kit_platform": "components"}
    on_disk = sorted("airflow_kit_platform" + "".join(f".{part}" for part in path.parent.relative_to(
        REPO / "components").parts) for path in (REPO / "components").rglob("__init__.py"))
    assert sorted(project["packages"]) == on_disk, "a subpackage of components/ is missing from pyproject.toml"


def test_the_import_name_is_the_components_folder():
    import airflow_kit_platform

    assert pathlib.Path(airflow_kit_platform.__file__).resolve() == (REPO / "components" / "__init__.py").resolve()
