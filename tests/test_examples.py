"""The book's chapters as scripts (examples/) run as a reader runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_chapter_1_feature_engineering_trains_and_scores_a_games_plays(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "ch1_feature_engineering.py"), "--games", "1400",
         "--store", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "87 features of 1,400 games" in result.stdout
    auc = re.search(r"roc_auc: [\d.]+ on the training data .*, ([\d.]+) held out", result.stdout)
    assert auc is not None and float(auc.group(1)) > 0.7, result.stdout
    assert re.search(r"nhl:1 from \d+ plays of game \d+: P\(postseason\) = 0\.\d{3}", result.stdout)
    assert (tmp_path / "store" / "nhl" / "1" / "features.json").is_file()
