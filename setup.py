"""Packaging glue that pyproject.toml cannot express: ship the top-level `configs/` folder
inside the wheel as the data-only package `bench._configs` (found by bench.paths.config_dir).

Everything else (metadata, dependencies, package data) is in pyproject.toml.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"

# configs/ and each of its subfolders (profiles/, tasks/, ...) become bench._configs[.sub]:
# listing the subfolders too keeps setuptools from warning about "importable" data folders.
config_packages = ["bench._configs"] + sorted(
    "bench._configs." + ".".join(p.relative_to(CONFIGS).parts)
    for p in CONFIGS.rglob("*") if p.is_dir() and not p.name.startswith((".", "_"))
)

# The paper's Tables 2-11 as data (results/paper/*.csv) ship as `bench._paper`
# (bench.paths.paper_dir), so `bench paper-errata` / `paper-compare` work from a wheel too.
setup(
    packages=find_packages(include=["bench*", "sr_backends*", "tasks*"]) + config_packages
    + ["bench._paper"],
    package_dir={"bench._configs": "configs", "bench._paper": "results/paper"},
    package_data={**{pkg: ["*.yaml"] for pkg in config_packages}, "bench._paper": ["*.csv"]},
)
