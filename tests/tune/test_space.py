"""Each YAML distribution becomes the right Ray Tune domain and Optuna distribution."""

from __future__ import annotations

import optuna.distributions as od
import pytest
from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Quantized

from tune.space import SpaceError, count_trials, parse_space, sample_configs, to_optuna, to_ray

SPACE = {
    "a": {"grid": [1, 2, 3]},
    "b": {"choice": ["x", "y"]},
    "c": {"uniform": [0.0, 1.0]},
    "d": {"quniform": [0.0, 1.0, 0.25]},
    "e": {"loguniform": [1.0e-4, 1.0e-1]},
    "f": {"qloguniform": [1.0e-3, 1.0, 1.0e-3]},
    "g": {"randint": [1, 5]},
    "h": {"qrandint": [2, 10, 2]},
    "nested": {"k": {"choice": [True, False]}},
    "dotted.key": {"uniform": [1.0, 2.0]},
}


def test_ray_domains():
    ray_space = to_ray(parse_space(SPACE), "random")
    assert ray_space["a"] == {"grid_search": [1, 2, 3]}
    assert isinstance(ray_space["b"], Categorical) and ray_space["b"].categories == ["x", "y"]
    assert isinstance(ray_space["c"], Float) and (ray_space["c"].lower, ray_space["c"].upper) == (0.0, 1.0)
    assert isinstance(ray_space["d"].get_sampler(), Quantized) and ray_space["d"].get_sampler().q == 0.25
    assert isinstance(ray_space["e"].get_sampler(), LogUniform)
    assert isinstance(ray_space["f"].get_sampler(), Quantized)
    assert isinstance(ray_space["g"], Integer) and (ray_space["g"].lower, ray_space["g"].upper) == (1, 5)
    assert ray_space["h"].get_sampler().q == 2
    assert isinstance(ray_space["nested"]["k"], Categorical)
    assert isinstance(ray_space["dotted"]["key"], Float)


def test_grid_becomes_categorical_for_optuna_and_choice_becomes_grid_for_grid():
    assert isinstance(to_ray(parse_space({"a": {"grid": [1, 2]}}), "optuna")["a"], Categorical)
    assert to_ray(parse_space({"b": {"choice": [1, 2]}}), "grid")["b"] == {"grid_search": [1, 2]}


def test_optuna_distributions():
    dists = to_optuna(parse_space(SPACE))
    assert dists["a"] == od.CategoricalDistribution([1, 2, 3])
    assert dists["c"] == od.FloatDistribution(0.0, 1.0)
    assert dists["d"] == od.FloatDistribution(0.0, 1.0, step=0.25)
    assert dists["e"] == od.FloatDistribution(1.0e-4, 1.0e-1, log=True)
    assert dists["g"] == od.IntDistribution(1, 4)
    assert dists["h"] == od.IntDistribution(2, 10, step=2)
    assert dists["nested/k"] == od.CategoricalDistribution([True, False])
    assert dists["dotted/key"] == od.FloatDistribution(1.0, 2.0)


def test_trial_counts():
    dims = parse_space({"a": {"grid": [1, 2, 3]}, "b": {"choice": [1, 2]}, "c": {"uniform": [0, 1]}})
    assert count_trials(dims, "random", 2) == 6
    assert count_trials(dims, "optuna", 5) == 5
    assert count_trials([d for d in dims if d.key != "c"], "grid", 1) == 6


@pytest.mark.parametrize(
    "bad",
    [
        {"a": {"grid": []}},
        {"a": {"uniform": [1]}},
        {"a": {"randint": [1.5, 3]}},
        {"a": {"uniform": [0, "x"]}},
        {"a": 3},
    ],
)
def test_malformed_dimensions(bad):
    with pytest.raises(SpaceError):
        parse_space(bad)


def test_samples_stay_in_range():
    for cfg in sample_configs(parse_space(SPACE), n=50, seed=1):
        assert cfg["a"] in (1, 2, 3) and 0 <= cfg["c"] <= 1 and 1 <= cfg["g"] < 5 and cfg["h"] % 2 == 0
        assert 1.0e-4 <= cfg["e"] <= 1.0e-1
