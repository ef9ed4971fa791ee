"""The book's chapter 2 Dash app, as the book writes it (for benchmarks/app.py): two text
inputs (G1, G2; the other games 0), a callback that builds a one-row DataFrame and calls
predict_proba, served by Dash's Flask server.

    python benchmarks/book_dash_app.py PORT
"""

from __future__ import annotations

import sys

import pandas as pd
from dash import Dash, Input, Output, dcc, html
from sklearn.linear_model import LogisticRegression

from scalepipe.io import load

games = load("games")
features = [f"G{i}" for i in range(1, 11)]
model = LogisticRegression().fit(games[features], games["label"])

app = Dash(__name__)
app.layout = html.Div(
    [
        html.P("Game 1: "),
        dcc.Input(id="range1", value="1", type="text"),
        html.P("Game 2: "),
        dcc.Input(id="range2", value="0", type="text"),
        html.Div(id="prediction"),
    ]
)


@app.callback(Output("prediction", "children"), [Input("range1", "value"),
                                                 Input("range2", "value")])  # fmt: skip
def update_prediction(game1: str, game2: str) -> str:
    new_row = {f"G{i}": 0.0 for i in range(1, 11)} | {"G1": float(game1), "G2": float(game2)}
    new_x = pd.DataFrame.from_dict(new_row, orient="index").transpose()
    return str(model.predict_proba(new_x)[0][1])


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=False)
