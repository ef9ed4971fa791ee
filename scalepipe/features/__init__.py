"""Automated feature engineering: the book's deep feature synthesis compiled to SQL.

from scalepipe.features import dfs, nhl_spec
from scalepipe.io import load_tables
features = dfs(nhl_spec(), load_tables("nhl"))     # one row per game, featuretools' names
print(features.names[:3], features.compiled.sql)
"""

from scalepipe.features.dfs import Features, dfs
from scalepipe.features.spec import FeatureSpec, nhl_spec, spec_for

__all__ = ["FeatureSpec", "Features", "dfs", "nhl_spec", "spec_for"]
