"""What each kind of step does, through the library's own calls: `load` a source into a
warehouse table, `train` and publish a candidate, `evaluate` it (and the champion) on
held-out rows, `promote` it behind a quality gate, `score` a batch, `export` a source to
a sink, measure `drift` (a gate for retraining), `run` a shell command. Each returns
what the run history records."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scalepipe.config import Settings
from scalepipe.errors import ConfigError, ScalepipeError

# Higher is better for these; lower for the error metrics.
HIGHER_IS_BETTER = {"accuracy": True, "roc_auc": True, "r2": True, "mean_absolute_error": False}


class GateClosed(ScalepipeError):
    """The candidate did not pass the quality gate (not a failure of the workflow)."""


@dataclass
class Outcome:
    rows: int | None = None
    model_version: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # what later steps read


@dataclass(frozen=True)
class StepContext:
    workflow: str
    step: str
    data_run_id: str  # the same for every run of one date: reruns replace, not add
    variables: Mapping[str, str]
    settings: Settings
    earlier: Mapping[str, Outcome]  # the outcomes of the steps run before, by name


def run_step(kind: str, params: Mapping[str, Any], context: StepContext) -> Outcome:
    return _KINDS[kind](params, context)


def _load(params: Mapping[str, Any], context: StepContext) -> Outcome:
    from scalepipe.io import open_source
    from scalepipe.io.warehouse import open_warehouse

    source = open_source(params["source"], settings=context.settings)
    warehouse = open_warehouse(context.settings.warehouse)
    rows = warehouse.write(params["table"], source.read_batches(None))
    return Outcome(rows=rows, detail=f"{rows:,} rows into {params['table']}")


def _train(params: Mapping[str, Any], context: StepContext) -> Outcome:
    from scalepipe.store import ModelStore
    from scalepipe.train import train

    trained = train(
        params["dataset"], params["recipe"], source=params["source"], rows=params["rows"],
        seed=int(params["seed"]), plot=False, settings=context.settings,
    )  # fmt: skip
    name = params["model"] or params["dataset"]
    version = trained.publish(ModelStore(context.settings.store), name=name, alias=params["alias"])
    return Outcome(
        rows=_whole(trained.params.get("rows")),
        model_version=version,
        metrics=dict(trained.metrics),
        detail=f"published {name}:{version} as {params['alias']}",
        facts={"model": name, "version": version},
    )


def _evaluate(params: Mapping[str, Any], context: StepContext) -> Outcome:
    """The candidate's metrics on the held-out rows, and the champion's on the same rows
    (none when there is no champion yet). At most `max_rows` rows are read, and only the
    columns the models need, so that a large source cannot exhaust the worker's memory."""
    from scalepipe.errors import StoreError
    from scalepipe.predict import Predictor
    from scalepipe.store import ModelStore, ModelURI

    max_rows = params["max_rows"]
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise ConfigError(f"evaluate: max_rows must be a whole number >= 1, not {max_rows!r}")
    store = ModelStore(context.settings.store)
    candidate = ModelURI.parse(params["model"])
    name, version = store.resolve(candidate)
    predictors = {"candidate": Predictor.load(f"{name}:{version}", store=store)}
    champion_version = None
    try:
        champion_name, champion_version = store.resolve(
            params["champion"] or f"{candidate.name}@champion"
        )
    except StoreError:
        pass
    else:
        predictors["champion"] = Predictor.load(f"{champion_name}:{champion_version}", store=store)
    frame = _held_out(params["source"], list(predictors.values()), max_rows, context)
    scores = _metrics(predictors["candidate"], frame)
    champion_scores = _metrics(predictors["champion"], frame) if "champion" in predictors else None
    shown = ", ".join(f"{key} {value:.4f}" for key, value in scores.items())
    return Outcome(
        rows=len(frame),
        model_version=version,
        metrics=scores,
        detail=f"{name}:{version} on {len(frame):,} held-out rows: {shown}",
        facts={"model": name, "version": version, "metrics": scores,
               "champion_version": champion_version, "champion_metrics": champion_scores},
    )  # fmt: skip


def _promote(params: Mapping[str, Any], context: StepContext) -> Outcome:
    """Move the alias to the evaluated candidate when it passes every minimum and maximum
    and beats the champion on `metric` by `margin` (no champion: the thresholds alone)."""
    from scalepipe.store import ModelStore

    evaluation = context.earlier.get(params["evaluation"])
    if evaluation is None or "metrics" not in evaluation.facts:
        raise ConfigError(
            f"promote step {context.step!r}: {params['evaluation']!r} is not an evaluate step "
            "that ran before it (list it in after)"
        )
    facts = evaluation.facts
    metrics: dict[str, float] = facts["metrics"]
    metric = params["metric"] or next(iter(metrics))
    if metric not in HIGHER_IS_BETTER or metric not in metrics:
        raise ConfigError(
            f"promote step {context.step!r}: metric must be one of {', '.join(metrics)}"
        )
    reasons = [
        f"{key} {metrics[key]:.4f} < minimum {float(low)}"
        for key, low in params["minimums"].items()
        if metrics.get(key, float("-inf")) < float(low)
    ] + [
        f"{key} {metrics[key]:.4f} > maximum {float(high)}"
        for key, high in params["maximums"].items()
        if metrics.get(key, float("inf")) > float(high)
    ]
    champion: dict[str, float] | None = facts["champion_metrics"]
    if champion is not None and facts["champion_version"] != facts["version"]:
        sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
        gain = sign * (metrics[metric] - champion[metric])
        if gain < float(params["margin"]):
            reasons.append(
                f"{metric} {metrics[metric]:.4f} does not beat the champion's "
                f"{champion[metric]:.4f} by {float(params['margin'])}"
            )
    name, version = facts["model"], facts["version"]
    if reasons:
        raise GateClosed(f"{name}:{version} stays a candidate: {'; '.join(reasons)}")
    ModelStore(context.settings.store).promote(name, version, params["alias"])
    return Outcome(
        model_version=version,
        metrics={metric: metrics[metric]},
        detail=f"{name}:{version} is now {params['alias']}",
    )


def _score(params: Mapping[str, Any], context: StepContext) -> Outcome:
    from scalepipe.batch import score

    result = score(
        params["model"], params["input"], params["output"], keys=params["keys"],
        run_id=context.data_run_id, on_error=params["on_error"], settings=context.settings,
    )  # fmt: skip
    return Outcome(
        rows=result.rows_out,
        model_version=result.version,
        detail=f"{result.rows_out:,} predictions by {result.model}:{result.version} "
        f"({result.rejected:,} rejected)",
    )


def _export(params: Mapping[str, Any], context: StepContext) -> Outcome:
    from scalepipe.io import open_sink, open_source
    from scalepipe.io.sinks import writing

    source = open_source(params["input"], settings=context.settings)
    sink = open_sink(params["output"], settings=context.settings)
    rows = 0
    with writing(sink, source.schema(), context.data_run_id) as writer:
        for batch in source.read_batches(None):
            writer.write(batch)
            rows += batch.num_rows
    return Outcome(
        rows=rows, detail=f"{rows:,} rows to {sink.describe().get('url', params['output'])}"
    )


def _drift(params: Mapping[str, Any], context: StepContext) -> Outcome:
    """`scalepipe monitor drift` on the model's prediction log. No drift holds the step
    (the gate of a retraining: the steps after it do not run); drift lets them run."""
    from pathlib import Path

    from scalepipe.monitor import drift, duration, moment
    from scalepipe.monitor.report import write_html

    report = drift(
        params["model"], params["log"],
        since=moment(str(params["since"])) if params["since"] else None,
        window=duration(str(params["window"])) if params["window"] else None,
        statistic=params["stat"], threshold=params["threshold"], share=float(params["share"]),
        settings=context.settings,
    )  # fmt: skip
    if params["report"]:
        write_html(report, Path(params["report"]))
    detail = f"{report.model}:{report.version} on {report.rows:,} logged predictions: "
    if not report.drift:
        raise GateClosed(detail + "no drift, nothing to retrain")
    return Outcome(
        rows=report.rows,
        model_version=report.version,
        metrics={"drift_share": report.share},
        detail=detail + report.verdict,
        facts={"model": report.model, "version": report.version, "drifted": report.drifted},
    )


def _run(params: Mapping[str, Any], context: StepContext) -> Outcome:
    """A shell command, with the run's variables as SCALEPIPE_* environment variables."""
    environment = os.environ | {f"SCALEPIPE_{key.upper()}": value
                                for key, value in context.variables.items()}  # fmt: skip
    done = subprocess.run(
        ["/bin/sh", "-c", params["command"]], capture_output=True, text=True,
        env=environment, check=False,
    )  # fmt: skip
    said = (done.stdout + done.stderr).strip().splitlines()
    if done.returncode != 0:
        raise ScalepipeError(
            f"the command exited with {done.returncode}: {said[-1] if said else 'no output'}"
        )
    return Outcome(detail=said[-1][:200] if said else "")


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _held_out(source_text: str, predictors: list[Any], max_rows: int, context: StepContext) -> Any:
    """The first `max_rows` rows of the source, in the columns the predictors read."""
    import pyarrow as pa

    from scalepipe.io import open_source

    source = open_source(source_text, settings=context.settings)
    present = set(source.schema().names)
    wanted: list[str] = []
    for predictor in predictors:
        needed = [*predictor.signature.names, predictor.signature.target]
        wanted += [column for column in needed if column in present and column not in wanted]
    batches, rows = [], 0
    for batch in source.read_batches(wanted):
        batches.append(batch.slice(0, max_rows - rows))
        rows += batches[-1].num_rows
        if rows >= max_rows:
            break
    return pa.Table.from_batches(
        batches, schema=pa.schema([source.schema().field(name) for name in wanted])
    ).to_pandas()


def _metrics(predictor: Any, frame: Any) -> dict[str, float]:
    import numpy as np

    from scalepipe.data.catalog import Task
    from scalepipe.train.metrics import evaluate

    target = predictor.signature.target
    if target not in frame.columns:
        raise ConfigError(
            f"the held-out rows have no {target!r} column to evaluate "
            f"{predictor.name}:{predictor.version} on"
        )
    task: Task = "classification" if predictor.signature.output == "probability" else "regression"
    scores = np.asarray(predictor.predict_frame(frame), dtype=np.float64)
    return evaluate(task, frame[target].to_numpy(), scores)


_KINDS: dict[str, Callable[[Mapping[str, Any], StepContext], Outcome]] = {
    "load": _load,
    "train": _train,
    "evaluate": _evaluate,
    "promote": _promote,
    "score": _score,
    "export": _export,
    "drift": _drift,
    "run": _run,
}
