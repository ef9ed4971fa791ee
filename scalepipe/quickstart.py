"""What `make demo` runs: load the datasets, train the book's two models, compare."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from scalepipe.config import Settings
from scalepipe.data.catalog import DATASETS
from scalepipe.io.datasets import WAREHOUSE, BlockCallback, write_dataset
from scalepipe.io.warehouse import open_warehouse
from scalepipe.store import DEFAULT_ALIAS, ModelStore
from scalepipe.train.reproduce import BOOK_TABLE, Reproduced
from scalepipe.train.run import TrainedModel, train

QUICKSTART_MODELS = (("games", "logistic"), ("housing", "linear"))
GAMES_REQUEST = {f"G{i}": str(int(i in (1, 10))) for i in range(1, 11)}
HOUSE = {
    "crim": 0.1, "zn": 0, "indus": 5, "chas": 0, "nox": 0.5, "rm": 6.2, "age": 50, "dis": 4,
    "rad": 4, "tax": 300, "ptratio": 18, "b": 390, "lstat": 10,
}  # fmt: skip


@dataclass
class QuickstartReport:
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)
    models: list[TrainedModel] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    results: list[Reproduced] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "loaded": self.loaded,
            "models": [
                {
                    "dataset": m.dataset,
                    "model": m.recipe,
                    "metrics": m.metrics,
                    "plot": str(m.plot) if m.plot else None,
                }
                for m in self.models
            ],
            "book": [result.to_dict() for result in self.results],
            "published": self.published,
        }


def run_quickstart(settings: Settings, on_block: BlockCallback | None = None) -> QuickstartReport:
    """Load every dataset into the warehouse, train from it, publish champions to the store."""
    report = QuickstartReport()
    store = ModelStore(settings.store)
    warehouse = open_warehouse(settings.warehouse)
    Path(settings.plots_dir).mkdir(parents=True, exist_ok=True)
    for name in DATASETS:
        report.loaded[name] = write_dataset(name, warehouse, on_block=on_block)
    for dataset, recipe in QUICKSTART_MODELS:
        trained = train(dataset, recipe, source=WAREHOUSE, settings=settings)
        report.models.append(trained)
        version = trained.publish(store, alias=DEFAULT_ALIAS)
        report.published.append(f"{store.url}/{dataset}:{version} ({DEFAULT_ALIAS})")
        report.results.extend(
            Reproduced(b, (trained.metrics[b.metric],))
            for b in BOOK_TABLE
            if (b.dataset, b.recipe) == (dataset, recipe)
        )
    return report


def example_calls(url: str) -> str:
    """Working calls against the quickstart server: curl and the book's requests client."""
    query = "&".join(f"{name}={value}" for name, value in GAMES_REQUEST.items())
    split = {"dataframe_split": {"columns": list(HOUSE), "data": [list(HOUSE.values())]}}
    return "\n".join(
        [
            f"serving games and housing on {url} (Ctrl-C stops). Try:",
            f"  curl '{url}/?{query}'",
            f"  curl -X POST {url}/v1/models/housing/predict "
            f"-H 'Content-Type: application/json' -d '{json.dumps(split)}'",
            f'  python -c \'import requests; print(requests.post("{url}", '
            f"json={json.dumps(GAMES_REQUEST)}).json())'",
            f"  docs: {url}/docs   metrics: {url}/metrics",
        ]
    )
