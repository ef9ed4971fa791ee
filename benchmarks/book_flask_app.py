"""The book's model endpoint (chapter 2): Flask, a one-row DataFrame, predict_proba.

Run under gunicorn with sync workers, as the book does; BOOK_MODEL names the pickled
model. POST /batch scores a JSON list of records, for the 1,000-row comparison.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import flask
import pandas as pd

app = flask.Flask(__name__)
with open(os.environ["BOOK_MODEL"], "rb") as handle:  # noqa: PTH123 - the book's own code
    model = pickle.load(handle)  # the book's way; scalepipe itself never unpickles by default


@app.route("/", methods=["GET", "POST"])
def predict() -> Any:
    data: dict[str, Any] = {"success": False}
    params = flask.request.json if flask.request.is_json else flask.request.args
    if params:
        row = pd.DataFrame.from_dict(dict(params), orient="index").transpose()
        data["response"] = str(model.predict_proba(row)[0][1])
        data["success"] = True
    return flask.jsonify(data)


@app.route("/batch", methods=["POST"])
def batch() -> Any:
    frame = pd.DataFrame(flask.request.get_json())
    return flask.jsonify({"predictions": model.predict_proba(frame)[:, 1].tolist()})
