"""The figures bench/ingest.py derives from its measurements: plain functions, made-up inputs.
No timing is measured or asserted here."""

from __future__ import annotations

import pytest

from bench.ingest import ceiling_against_naive, cpu_budget


def test_the_limit_against_the_naive_script_says_what_share_a_target_takes() -> None:
    # 2 cores at 5.25 ms a page (381 pages/s) against a naive script of 88.8 articles/s
    figures = ceiling_against_naive(2 / 0.00525, 88.8)
    assert figures["limit_over_naive"] == pytest.approx(4.29, abs=0.01)
    assert figures["limit_share_for_target"] == pytest.approx(0.932, abs=0.001)
    # a slower naive script leaves more room; one the limit beats by less than 4x, none
    assert ceiling_against_naive(381.0, 40.0)["limit_share_for_target"] < 0.5
    assert ceiling_against_naive(126.0, 33.8)["limit_share_for_target"] > 1


def pass_figures(main: float, workers: float, site: float, wall: float, articles: int) -> dict:
    return {
        "main_cpu_s": main,
        "workers_cpu_s": workers,
        "site_cpu_s": site,
        "wall_s": wall,
        "articles": articles,
    }


def test_the_cpu_budget_is_what_reaches_the_share_at_the_same_use_of_the_cores() -> None:
    cores, page_cpu = 2, 0.00525
    marsad = pass_figures(main=9.05, workers=30.35, site=0.85, wall=22.27, articles=5000)
    budget = cpu_budget(marsad, cores, page_cpu)
    assert budget["cpu_per_article_s"] == pytest.approx(40.25 / 5000)
    assert budget["cores_busy"] == pytest.approx(40.25 / (2 * 22.27))
    # the same pass with every CPU figure scaled to the budget, the cores as busy: its wall
    # time scales with them, and it reaches 80% of the limit exactly
    scale = budget["cpu_allowed_for_share_s"] / budget["cpu_per_article_s"]
    faster = pass_figures(9.05 * scale, 30.35 * scale, 0.85 * scale, 22.27 * scale, 5000)
    share = faster["articles"] / faster["wall_s"] * page_cpu / cores
    assert share == pytest.approx(0.8)
    # the pass as measured is below it, by the ratio of its CPU to the budget
    measured = marsad["articles"] / marsad["wall_s"] * page_cpu / cores
    over_budget = budget["cpu_per_article_s"] / budget["cpu_allowed_for_share_s"]
    assert measured == pytest.approx(0.8 / over_budget)
    assert measured < 0.8
