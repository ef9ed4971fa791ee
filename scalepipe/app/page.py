"""The model app: a Dash page for any published model, built from its signature and the
training rows' profile (the book's chapter 2 app, for every model without writing it).

Every prediction goes through the Predictor, so the page shows what
`/v1/models/{name}/predict` answers for the same input. Dash serves its scripts from the
installed package: the page loads nothing from another host and works offline.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import flask
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from scalepipe.app.widgets import Widget, widgets
from scalepipe.errors import InvalidInput
from scalepipe.predict import Predictor

FEATURE = "feature"
NOT_SCORED = "none: "  # what the prediction box says before why an input has no score
EXAMPLE = "example"
NO_PROFILE = (
    "This model was published without statistics of its training data: the inputs start "
    "at 0 with no range. Train and publish it again with this scalepipe to record them."
)


def build_app(
    predictors: Sequence[Predictor],
    *,
    prefix: str = "/",
    api_url: str | None = "http://127.0.0.1:8000",
    features: Sequence[str] | None = None,
) -> Dash:
    """The app for `predictors` (a selector when there are several), served under
    `prefix`; `api_url`: where the model server answers, for the ready-made calls (None:
    the server that serves the page, as in `scalepipe serve --ui`);
    `features`: show only these inputs (the book's app shows 2 of 10), the others held at
    their training medians."""
    if not predictors:
        raise ValueError("the app needs at least one model")
    shown_only = set(features) if features else None
    for predictor in predictors:
        unknown = sorted((shown_only or set()) - set(predictor.signature.names))
        if unknown:
            raise ValueError(f"{predictor.name} has no feature(s) {', '.join(unknown)}")
    served = {predictor.name: predictor for predictor in predictors}
    first = predictors[0].name
    app = Dash(
        __name__,
        requests_pathname_prefix=prefix,
        routes_pathname_prefix=prefix,
        serve_locally=True,
        title="scalepipe model app",
        update_title="",  # the tab title stays put while a prediction updates
    )
    app.layout = html.Div(
        [
            html.H1("scalepipe model app", style={"fontSize": "1.4em"}),
            html.Div(
                [
                    html.Label("model", htmlFor="model"),
                    dcc.Dropdown(id="model", options=list(served), value=first, clearable=False),
                ],
                style={"display": "block" if len(served) > 1 else "none", "maxWidth": "20em"},
            ),
            html.Div(id="card"),
            html.Div(id="notice", style={"color": "#a15c00"}),
            html.Div(id="inputs", style=_GRID),
            html.Div(
                [html.Span("prediction: "), html.Strong(id="prediction")],
                style={"fontSize": "1.6em", "margin": "0.6em 0"},
            ),
            html.Div(id="examples"),
            html.H2("what if", style={"fontSize": "1.1em"}),
            dcc.Dropdown(id="whatif-feature", clearable=False, style={"maxWidth": "20em"}),
            dcc.Graph(id="whatif", config={"displayModeBar": False}, style={"height": "300px"}),
            html.H2("call the API", style={"fontSize": "1.1em"}),
            html.Pre(id="curl", style=_CODE),
            html.Pre(id="python", style=_CODE),
        ],
        style={"fontFamily": "system-ui, sans-serif", "margin": "1em 2em", "maxWidth": "70em"},
    )

    @functools.lru_cache(maxsize=16)  # once per version, not on every model switch
    def plot_source(name: str, version: int, plot: str) -> str:
        """The training plot as a data URL, read from the store and checked against the
        version's manifest."""
        data = served[name].store.read_version(name, version, only=(plot,))
        return "data:image/png;base64," + base64.b64encode(data[plot]).decode()

    def model(name: str | None) -> tuple[Predictor, list[Widget]]:
        predictor = served.get(name or first, served[first])
        return predictor, widgets(predictor.signature, predictor.card.profile)

    @app.callback(
        Output("inputs", "children"),
        Output("examples", "children"),
        Output("card", "children"),
        Output("notice", "children"),
        Output("whatif-feature", "options"),
        Output("whatif-feature", "value"),
        Input("model", "value"),
    )
    def show_model(name: str) -> tuple[Any, ...]:
        predictor, chosen = model(name)
        card = predictor.card
        examples = (card.profile or {}).get("examples", [])
        buttons = [html.Span("examples from the training data: ")] + [
            html.Button(f"example {index + 1}", id={"type": EXAMPLE, "index": index},
                        n_clicks=0, style={"marginRight": "0.4em"})
            for index in range(len(examples))
        ]  # fmt: skip
        return (
            [
                _input(widget)
                for widget in chosen
                if shown_only is None or widget.name in shown_only
            ],
            buttons if examples else [],
            _card(predictor, plot_source),
            "" if card.profile else NO_PROFILE,
            [widget.name for widget in chosen],
            next(w.name for w in chosen if shown_only is None or w.name in shown_only),
        )

    # The prediction has a callback of its own, and the what-if chart and the ready-made
    # calls follow it (chained on the prediction shown): the number is on screen first,
    # without a second request competing with it.
    @app.callback(
        Output("prediction", "children"),
        Input({"type": FEATURE, "name": ALL}, "value"),
        State("model", "value"),
    )
    def predict(values: list[Any], name: str) -> Any:
        predictor, chosen = model(name)
        try:
            record = _record(chosen, ctx.inputs_list[0], values)
            if record is None:
                return no_update
            return f"{predictor.predict_one(record):.4f}"
        except (InvalidInput, ValueError) as error:  # an input the model cannot score
            return f"{NOT_SCORED}{error}"

    @app.callback(
        Output("whatif", "figure"),
        Output("curl", "children"),
        Output("python", "children"),
        Input("prediction", "children"),
        Input("whatif-feature", "value"),
        State({"type": FEATURE, "name": ALL}, "value"),
        State("model", "value"),
    )
    def explain(
        prediction: Any, swept: str | None, values: list[Any], name: str
    ) -> tuple[Any, ...]:
        predictor, chosen = model(name)
        record = _record(chosen, ctx.states_list[0], values)
        if record is None or str(prediction).startswith(NOT_SCORED):
            return no_update, no_update, no_update
        base = api_url or flask.request.host_url.rstrip("/")
        return (
            _whatif(predictor, chosen, record, swept),
            _curl(base, predictor.name, record),
            _python(base, predictor.name, record),
        )

    @app.callback(
        Output({"type": FEATURE, "name": ALL}, "value"),
        Input({"type": EXAMPLE, "index": ALL}, "n_clicks"),
        State("model", "value"),
        prevent_initial_call=True,
    )
    def load_example(clicks: list[int], name: str) -> list[Any]:
        predictor, chosen = model(name)
        by_name = {widget.name: widget for widget in chosen}
        outputs = [item["id"]["name"] for item in ctx.outputs_list]
        triggered = ctx.triggered_id
        if not isinstance(triggered, dict) or not any(clicks):
            return [no_update] * len(outputs)
        row = (predictor.card.profile or {}).get("examples", [])[int(triggered["index"])]
        return [by_name[feature].shown(row.get(feature)) for feature in outputs]

    # Behind `serve --ui`'s worker processes, a script's request that reached a worker
    # which had not rendered the page yet was answered 500 ("dash is not a registered
    # library") about every other run of tests/app/test_serve_ui.py; rendering it once
    # in every process, here, ended that.
    app.server.test_client().get(prefix)
    return app


def _input(widget: Widget) -> html.Div:
    ident = {"type": FEATURE, "name": widget.name}
    control: Any
    if widget.kind == "switch":
        control = dcc.Checklist(id=ident, options=[{"label": " yes", "value": True}],
                                value=[True] if widget.default else [], inline=True)  # fmt: skip
    elif widget.kind == "slider":
        assert widget.low is not None and widget.high is not None
        control = dcc.Slider(id=ident, min=widget.low, max=widget.high, step=1,
                             value=widget.default, marks=None,
                             tooltip={"placement": "bottom", "always_visible": True})  # fmt: skip
    else:
        control = dcc.Input(id=ident, type="number", value=widget.default, min=widget.low,
                            max=widget.high, step="any", debounce=False)  # fmt: skip
    shown_range = "" if widget.low is None else f" ({widget.low:g} to {widget.high:g})"
    return html.Div([html.Label(widget.name + shown_range), control], style=_FIELD)


def _record(chosen: list[Widget], inputs: list[dict[str, Any]], values: list[Any]) -> Any:
    """The record the page shows; a feature without an input on the page is held at its
    default."""
    by_name = {widget.name: widget for widget in chosen}
    given = {item["id"]["name"]: value for item, value in zip(inputs, values, strict=True)}
    if not given or not set(given) <= set(by_name):  # the inputs of another model, mid-switch
        return None
    return {name: widget.value(given.get(name, widget.default))
            for name, widget in by_name.items()}  # fmt: skip


def _whatif(
    predictor: Predictor, chosen: list[Widget], record: dict[str, float], swept: str | None
) -> dict[str, Any]:
    import numpy as np

    widget = next((w for w in chosen if w.name == swept), chosen[0])
    xs = widget.sweep()
    rows = np.array([[record[w.name] for w in chosen] for _ in xs], dtype=np.float64)
    rows[:, [w.name for w in chosen].index(widget.name)] = xs
    ys = predictor.predict_array(rows).tolist()
    label = "probability" if predictor.output == "probability" else "prediction"
    return {
        "data": [{"x": xs, "y": ys, "mode": "lines+markers", "name": label},
                 {"x": [record[widget.name]], "y": [predictor.predict_one(record)],
                  "mode": "markers", "marker": {"size": 12}, "name": "now"}],
        "layout": {"xaxis": {"title": {"text": widget.name}}, "yaxis": {"title": {"text": label}},
                   "margin": {"l": 50, "r": 10, "t": 10, "b": 40}, "showlegend": False},
    }  # fmt: skip


def _card(predictor: Predictor, plot_source: Callable[[str, int, str], str]) -> html.Div:
    card = predictor.card
    plot = []
    if card.plot is not None:
        source = plot_source(card.name, card.version, card.plot)
        plot = [html.Img(id="training-plot", src=source, alt="the training plot",
                         style={"maxWidth": "28em", "display": "block"})]  # fmt: skip
    alias = predictor.uri.wanted_alias
    metrics = ", ".join(f"{name} {value:.4f}" for name, value in card.metrics.items())
    rows = (card.profile or {}).get("rows")
    return html.Div(
        [
            html.Strong(f"{card.name}:{card.version}" + (f" ({alias})" if alias else "")),
            html.Span(f" {predictor.output} of {card.signature.target}"),
            html.Div(f"metrics: {metrics or 'none recorded'}"),
            html.Div(f"trained {card.created}" + (f" on {rows:,} rows" if rows else "")),
            *plot,
        ],
        id="model-card",
        style={"background": "#f4f6f8", "padding": "0.6em", "margin": "0.6em 0"},
    )


def _curl(api_url: str, name: str, record: dict[str, float]) -> str:
    body = json.dumps({"instances": [record]})
    return (f"curl -s -X POST {api_url}/v1/models/{name}/predict \\\n"
            f"  -H 'Content-Type: application/json' -d '{body}'")  # fmt: skip


def _python(api_url: str, name: str, record: dict[str, float]) -> str:
    return (
        "import requests\n"
        f"requests.post({api_url + '/v1/models/' + name + '/predict'!r},\n"
        f"              json={{'instances': [{record!r}]}}).json()"
    )


_GRID = {"display": "grid", "gridTemplateColumns": "repeat(auto-fill, minmax(14em, 1fr))",
         "gap": "0.8em 1.2em"}  # fmt: skip
_FIELD = {"display": "flex", "flexDirection": "column", "gap": "0.2em"}
_CODE = {"background": "#f4f6f8", "padding": "0.6em", "whiteSpace": "pre-wrap"}
