"""Generated NHL games and play-by-play, with the Kaggle NHL tables' columns.

`game` has one row per game: seasons of 1,230 regular-season games ('R') followed by
87 postseason games ('P'), ids in the NHL's form (2016020001: season, 02 regular or
03 postseason, number). `game_plays` has ~300 plays per game: faceoffs, shots, hits,
blocked and missed shots, giveaways, takeaways, penalties, stoppages and goals, with
rink coordinates, period clock and the running score. A tied game goes to overtime,
decided by one goal (shoot-outs are not modelled).

Postseason hockey is tighter: more hits and blocked shots, fewer penalties and goals,
longer overtimes. Every game draws its own play mix around its type's mix, so the
two types overlap: per-game aggregates of the plays predict type 'P' well but not
perfectly, which is what the book's feature-engineering example needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("game", "game_plays")
DEFAULT_GAMES = 2_000
PLAYS_PER_GAME = 290
REGULAR_GAMES_PER_SEASON = 1_230
POSTSEASON_GAMES_PER_SEASON = 87
FIRST_SEASON = 2010
PERIOD_SECONDS = 1_200
TEAM_IDS = np.array([*range(1, 27), 28, 29, 30, 52, 53, 54])

EVENTS = (
    "Faceoff", "Shot", "Hit", "Stoppage", "Blocked Shot", "Missed Shot", "Giveaway",
    "Takeaway", "Penalty", "Goal",
)  # fmt: skip
_REGULAR_MIX = np.array([0.19, 0.17, 0.13, 0.16, 0.085, 0.085, 0.065, 0.05, 0.035, 0.02])
_POSTSEASON_MIX = _REGULAR_MIX * np.array([1.0, 1.0, 1.3, 1.0, 1.2, 1.0, 1.1, 0.95, 0.8, 0.85])
# A game's own mix is a Dirichlet draw around its type's; a larger concentration makes
# games of one type more alike and the two types easier to tell apart.
_MIX_CONCENTRATION = 1500.0
_GOAL = EVENTS.index("Goal")
_STOPPAGE = EVENTS.index("Stoppage")
_SHOT_TYPES = (
    "Wrist Shot",
    "Snap Shot",
    "Slap Shot",
    "Backhand",
    "Tip-In",
    "Deflected",
    "Wrap-around",
)
_SHOT_TYPE_P = np.array([0.5, 0.15, 0.13, 0.11, 0.07, 0.025, 0.015])
_PENALTY_TYPES = (
    "Tripping",
    "Hooking",
    "Slashing",
    "Roughing",
    "Interference",
    "Holding",
    "Fighting",
)
_PENALTY_TYPE_P = np.array([0.2, 0.17, 0.15, 0.15, 0.12, 0.13, 0.08])
SECONDARY_TYPES = _SHOT_TYPES + _PENALTY_TYPES
_VENUES = tuple(f"Arena {team}" for team in TEAM_IDS)


def block(rng: np.random.Generator, first_game: int, games: int) -> dict[str, pd.DataFrame]:
    game = _games(rng, first_game, games)
    plays = _plays(rng, game)
    final = plays.groupby("game_id", sort=False)[["goals_away", "goals_home"]].max()
    game["away_goals"] = final["goals_away"].reindex(game["game_id"]).to_numpy()
    game["home_goals"] = final["goals_home"].reindex(game["game_id"]).to_numpy()
    overtime = plays.loc[plays["periodType"] == "OVERTIME", "game_id"].unique()
    home_won = game["home_goals"] > game["away_goals"]
    game["outcome"] = np.where(home_won, "home win ", "away win ") + np.where(
        game["game_id"].isin(overtime), "OT", "REG"
    )
    return {"game": game, "game_plays": plays}


def _games(rng: np.random.Generator, first_game: int, games: int) -> pd.DataFrame:
    import pandas as pd

    per_season = REGULAR_GAMES_PER_SEASON + POSTSEASON_GAMES_PER_SEASON
    index = np.arange(first_game, first_game + games)
    season_start = FIRST_SEASON + index // per_season
    number = index % per_season
    postseason = number >= REGULAR_GAMES_PER_SEASON
    number_in_type = np.where(postseason, number - REGULAR_GAMES_PER_SEASON, number) + 1
    game_id = season_start * 1_000_000 + np.where(postseason, 30_000, 20_000) + number_in_type
    home = rng.integers(0, len(TEAM_IDS), games)
    away = (home + rng.integers(1, len(TEAM_IDS), games)) % len(TEAM_IDS)
    # Regular season from early October for ~180 days; postseason from mid-April.
    day = np.where(
        postseason,
        195 + number_in_type * 60 // POSTSEASON_GAMES_PER_SEASON,
        number_in_type * 180 // REGULAR_GAMES_PER_SEASON,
    )
    start = (
        pd.to_datetime(season_start.astype(str) + "-10-05")
        + pd.to_timedelta(day, unit="D")
        + pd.to_timedelta(rng.choice([19, 19, 19, 20, 22], games), unit="h")
    )
    return pd.DataFrame(
        {
            "game_id": game_id,
            "season": season_start * 10_000 + season_start + 1,
            "type": np.where(postseason, "P", "R"),
            "date_time": start.normalize(),
            "date_time_GMT": start + pd.Timedelta(hours=4),
            "away_team_id": TEAM_IDS[away],
            "home_team_id": TEAM_IDS[home],
            "away_goals": 0,
            "home_goals": 0,
            "outcome": "",
            "venue": np.asarray(_VENUES)[home],
        }
    )


def _event_counts(rng: np.random.Generator, mixes: np.ndarray, plays: np.ndarray) -> np.ndarray:
    own_mix = rng.gamma(mixes * _MIX_CONCENTRATION)
    own_mix /= own_mix.sum(axis=1, keepdims=True)
    return rng.multinomial(plays, own_mix)


def _plays(rng: np.random.Generator, game: pd.DataFrame) -> pd.DataFrame:
    games = len(game)
    postseason = (game["type"] == "P").to_numpy()
    mixes = np.where(postseason[:, None], _POSTSEASON_MIX, _REGULAR_MIX)
    mixes = mixes / mixes.sum(axis=1, keepdims=True)
    counts = _event_counts(rng, mixes, rng.poisson(PLAYS_PER_GAME, games))
    regulation = _lay_out(rng, counts, 3 * PERIOD_SECONDS, period_offset=0)
    home_for = rng.random(len(regulation["event"])) < 0.52
    goals = regulation["event"] == _GOAL
    home_total = np.bincount(regulation["game"], weights=goals & home_for, minlength=games)
    away_total = np.bincount(regulation["game"], weights=goals & ~home_for, minlength=games)
    tied = np.flatnonzero(home_total == away_total)

    # Overtime ends at the first goal; postseason overtimes (no shoot-out) run longer.
    ot_plays = rng.poisson(np.where(postseason[tied], 110, 25))
    ot_mix = mixes[tied].copy()
    ot_mix[:, _GOAL] = 0.0
    ot_counts = _event_counts(rng, ot_mix / ot_mix.sum(axis=1, keepdims=True), ot_plays)
    ot_counts[:, _GOAL] = 1
    overtime = _lay_out(rng, ot_counts, PERIOD_SECONDS, period_offset=3, goal_last=True, games=tied)
    ot_home_for = rng.random(len(overtime["event"])) < 0.5

    event = np.concatenate([regulation["event"], overtime["event"]])
    game_index = np.concatenate([regulation["game"], overtime["game"]])
    elapsed = np.concatenate([regulation["elapsed"], overtime["elapsed"]])
    home_for = np.concatenate([home_for, ot_home_for])
    order = np.lexsort((elapsed, game_index))
    event, game_index, elapsed, home_for = (
        event[order],
        game_index[order],
        elapsed[order],
        home_for[order],
    )
    return _play_table(rng, game, event, game_index, elapsed, home_for)


def _lay_out(
    rng: np.random.Generator,
    counts: np.ndarray,
    span_seconds: int,
    *,
    period_offset: int,
    goal_last: bool = False,
    games: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Shuffle each game's events into order and give them increasing clock times."""
    rows, kinds = counts.shape
    per_game = counts.sum(axis=1)
    game = np.repeat(np.arange(rows) if games is None else games, per_game)
    event = np.repeat(np.tile(np.arange(kinds), rows), counts.ravel())
    key = rng.random(len(event))
    if goal_last:
        key[event == _GOAL] = 2.0
    event = event[np.lexsort((key, game))]
    clock = np.sort(rng.random(len(event)) * 0.999 + game)
    clock -= game
    return {
        "event": event,
        "game": game,
        "elapsed": period_offset * PERIOD_SECONDS + clock * span_seconds,
    }


def _play_table(
    rng: np.random.Generator,
    game: pd.DataFrame,
    event: np.ndarray,
    game_index: np.ndarray,
    elapsed: np.ndarray,
    home_for: np.ndarray,
) -> pd.DataFrame:
    import pandas as pd

    plays = len(event)
    game_ids = game["game_id"].to_numpy()[game_index]
    sequence = np.arange(plays) - np.searchsorted(game_index, game_index) + 1
    play_id = pc.binary_join_element_wise(
        pa.array(game_ids).cast(pa.string()), pa.array(sequence).cast(pa.string()), "_"
    )
    home = game["home_team_id"].to_numpy()[game_index]
    away = game["away_team_id"].to_numpy()[game_index]
    no_team = event == _STOPPAGE
    team_for = pd.array(np.where(home_for, home, away), dtype="Int64")
    team_against = pd.array(np.where(home_for, away, home), dtype="Int64")
    team_for[no_team] = pd.NA
    team_against[no_team] = pd.NA

    goal = event == _GOAL
    home_goals = _running_count(goal & home_for, game_index)
    away_goals = _running_count(goal & ~home_for, game_index)

    secondary = np.full(plays, -1)
    shot_like = goal | (event == EVENTS.index("Shot"))
    secondary[shot_like] = rng.choice(len(_SHOT_TYPES), shot_like.sum(), p=_SHOT_TYPE_P)
    penalty = event == EVENTS.index("Penalty")
    secondary[penalty] = len(_SHOT_TYPES) + rng.choice(
        len(_PENALTY_TYPES), penalty.sum(), p=_PENALTY_TYPE_P
    )

    # Attacking end alternates by period; shots and goals come from the attacking zone.
    period = (elapsed // PERIOD_SECONDS).astype(np.int64) + 1
    side = np.where(home_for ^ (period % 2 == 0), 1.0, -1.0)
    depth = np.where(shot_like, rng.uniform(25.0, 89.0, plays), rng.uniform(-99.0, 99.0, plays))
    x = np.where(no_team, np.nan, np.round(side * depth))
    y = np.where(no_team, np.nan, np.round(rng.uniform(-42.0, 42.0, plays)))
    period_time = (elapsed - (period - 1) * PERIOD_SECONDS).astype(np.int64)
    intermissions = pd.to_timedelta((period - 1) * 18, unit="min")
    start = game["date_time_GMT"].to_numpy()[game_index]
    return pd.DataFrame(
        {
            "play_id": play_id.to_pandas(),
            "game_id": game_ids,
            "team_id_for": team_for,
            "team_id_against": team_against,
            "event": pd.Categorical.from_codes(event, pd.Index(EVENTS)),
            "secondaryType": pd.Categorical.from_codes(secondary, pd.Index(SECONDARY_TYPES)),
            "x": x,
            "y": y,
            "period": period,
            "periodType": np.where(period > 3, "OVERTIME", "REGULAR"),
            "periodTime": period_time,
            "periodTimeRemaining": PERIOD_SECONDS - period_time,
            "dateTime": start + pd.to_timedelta(elapsed.astype(np.int64), unit="s") + intermissions,
            "goals_away": away_goals,
            "goals_home": home_goals,
        }
    )


def _running_count(flags: np.ndarray, game_index: np.ndarray) -> np.ndarray:
    total = np.cumsum(flags)
    first = np.searchsorted(game_index, game_index)
    before = np.where(first > 0, total[first - 1], 0)
    return (total - before).astype(np.int64)


LABEL = "postseason"


def labels(game: pd.DataFrame) -> pd.DataFrame:
    """The book's target per game: 1 for a postseason game (type 'P'), else 0."""
    import pandas as pd

    return pd.DataFrame({"game_id": game["game_id"], LABEL: (game["type"] == "P").astype("int64")})
