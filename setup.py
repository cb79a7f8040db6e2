from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="dwr-larq",
    version=next(line.split('"')[1] for line in (HERE / "dwr_larq" / "__init__.py").read_text().splitlines()
                 if line.startswith("__version__ = ")),  # the one place the version is written
    description="Fast and accurate binary neural networks with Depth-Width Reshaping, on Larq",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    # larq-compute-engine 0.16 ships wheels for CPython 3.10-3.12 only (none for 3.13).
    python_requires=">=3.10,<3.13",
    packages=[*find_packages(include=["dwr_larq", "dwr_larq.*"]), "dwr_larq.zoo_cards"],
    # The zoo cards (and weights small enough to ship) live in the top-level zoo/ folder
    # and ship as dwr_larq.zoo_cards.
    package_dir={"dwr_larq": "dwr_larq", "dwr_larq.zoo_cards": "zoo"},
    package_data={"dwr_larq.zoo_cards": ["*.json", "weights/*.h5"], "dwr_larq.models": ["imagenet_classes.tsv"],
                  "dwr_larq.deploy": ["tflite_enums.json", "arm_cost_model.json"]},
    install_requires=requirements(),
    extras_require={"test": ["pytest>=7", "pytest-timeout", "pytest-xdist>=3"]},
    entry_points={"console_scripts": ["dwr-larq=dwr_larq.cli.main:main"]},
)
