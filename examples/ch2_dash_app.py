"""The book's chapter 2 Dash app on scalepipe: a page with inputs for two of the ten
games and the live probability that the player buys the target game. The other eight
games are held at their training medians; `scalepipe app games` shows all ten, with a
what-if chart, example rows and ready API calls.

    python examples/ch2_dash_app.py [--port 8050] [--store DIR]
"""

from __future__ import annotations

import argparse
import tempfile

from scalepipe.app.page import build_app
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--store", help="model store [default: a temporary folder]")
    options = parser.parse_args()

    store = ModelStore(options.store or tempfile.mkdtemp(prefix="scalepipe-ch2-"))
    train("games", "logistic", plot=False).publish(store, name="games", alias="champion")
    app = build_app([Predictor.load("games", store=store)], features=["G1", "G2"])
    print(f"the book's app on http://127.0.0.1:{options.port}/ (Ctrl-C stops)")
    app.run(port=options.port, debug=False)


if __name__ == "__main__":
    main()
