"""Deterministic demo data of a city public-data sharing platform, in the collectors' native formats.

    dataset = generate(seed=7, start=datetime(2026, 3, 2, tzinfo=CHINA_TZ))
    paths = write_demo(dataset, Path("demo-data"))

`ground_truth.json` lists each injected incident with the file, lines and record ids that carry it.
"""

from __future__ import annotations

from soc_api.demo.generator import DemoDataset, generate, write_demo
from soc_api.demo.records import SOURCES

__all__ = ["SOURCES", "DemoDataset", "generate", "write_demo"]
