"""The images the charts and operators name by default are exactly the ones built here, tagged with the chart's
appVersion (the project's version)."""

from __future__ import annotations

from pathlib import Path

import yaml

from flannel_operator.settings import ImageSettings
from kubeception_testenv.images import recipes, version
from tests.charts import render_chart

CHARTS = Path(__file__).parents[2] / "charts"


def test_charts_and_operators_name_the_images_built_here():
    built = {recipe.ref for recipe in recipes()}
    for chart in ("flannel-operator", "cert-operator"):
        assert yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())["appVersion"] == version()
        manifest = render_chart(CHARTS / chart, "ops")
        images = {
            container["image"]
            for doc in yaml.safe_load_all(manifest)
            if doc and doc["kind"] == "Deployment"
            for container in doc["spec"]["template"]["spec"]["containers"]
        }
        assert images == {f"ghcr.io/kubeception/operators:{version()}"}
        assert images <= built
    defaults = ImageSettings()
    assert {defaults.flannel, defaults.tools} <= built
    values = yaml.safe_load((CHARTS / "flannel-operator" / "values.yaml").read_text())["images"]
    assert {values["flannel"], values["tools"]} == {defaults.flannel, defaults.tools}


def test_every_recipe_is_small_and_unprivileged_where_it_can_be():
    by_name = {recipe.short: recipe for recipe in recipes()}
    assert set(by_name) == {"operators", "pause", "flannel", "tools"}
    assert by_name["operators"].user == 65532, "operators run as a non-root user"
    assert "gcc" not in " ".join(by_name["operators"].debian), "no compilers"
    assert by_name["pause"].debian == [], "pause is a static binary and nothing else"
