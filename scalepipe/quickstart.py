"""What `make demo` runs: load the datasets, train the book's two models, compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scalepipe.config import Settings
from scalepipe.data.catalog import DATASETS
from scalepipe.data.loading import BlockCallback, write_dataset
from scalepipe.data.sources import WAREHOUSE
from scalepipe.data.warehouse import Warehouse
from scalepipe.store import DEFAULT_ALIAS, ModelStore
from scalepipe.train.reproduce import BOOK_TABLE, Reproduced
from scalepipe.train.run import TrainedModel, train

QUICKSTART_MODELS = (("games", "logistic"), ("housing", "linear"))


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
    warehouse = Warehouse(settings.warehouse)
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
