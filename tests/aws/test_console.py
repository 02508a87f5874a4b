"""A person creates an AWS guest from the console in headless Chromium and watches it become Ready: the real
aws-operator and cert-operator in-process, against moto and OpenBao, the console on loopback with the person's
kubeconfig."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

from aws_operator.spec import AWS_CONFIG
from kubectl_kubeception import clusters, console
from kubectl_kubeception.mother import ORGANIZATION_LABEL, ROLE_LABEL, Mother
from operatorkit.kinds import NAMESPACE
from operatorkit.testing import wait_until
from tests.aws.conftest import REGION, credentials, wait_ready

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from kubeception_testenv import ControlPlane
    from operatorkit import KubeClient, Operator
    from tests.browser import Browser


def summary_ready(chromium: Browser) -> str:
    """The Ready cell of a cluster's page."""
    return str(chromium.script("return document.querySelector('dl.summary span.status')?.textContent || ''"))


def test_a_person_creates_an_aws_guest_in_the_console_and_sees_it_become_ready(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    account: str,
    start_aws: Callable[..., Operator],
    chromium: Browser,
    tmp_path: Path,
) -> None:
    organization = f"web-{uuid.uuid4().hex[:6]}"
    labels = {ROLE_LABEL: "organization", ORGANIZATION_LABEL: organization}
    kube.patch(NAMESPACE, namespace, {"metadata": {"labels": labels}})
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception", name="team-account")
    start_aws()
    server = console.serve(Mother.connect(str(control_plane.kubeconfig), None), [namespace])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        chromium.go(server.url)
        chromium.go(f"{base}/orgs/{organization}/clusters")
        chromium.click("#new-kind option[value='aws']")
        chromium.fill("#new-name", "shop")
        chromium.fill("#new-version", "1.36.3")  # no cluster listed yet to offer its version
        chromium.fill("#new-workers", "2")
        chromium.fill("#new-region", REGION)
        chromium.fill("#new-zones", f"{REGION}a {REGION}b")
        chromium.fill("#new-credentials", "team-account")
        chromium.click("form[action$='/new'] button")
        wait_until(lambda: chromium.url == f"{base}/orgs/{organization}/clusters/new", timeout=10)
        assert "accepted this change in a dry run" in chromium.text()
        chromium.screenshot(tmp_path / "01-aws-preview.png")
        chromium.click("form.change button")
        wait_until(lambda: "Applied" in chromium.text(), timeout=10)
        assert kube.get(AWS_CONFIG, "shop", namespace)["spec"]["availabilityZones"] == [f"{REGION}a", f"{REGION}b"]

        # its page, reloaded as a person would, until its Ready cell says True (a followed page is always loading
        # its next long poll, which WebDriver waits on: the live redraw is tests/plugin's, over HTTP)
        page_url = f"{base}/clusters/{namespace}/shop"

        def shown_ready() -> bool:
            chromium.go(page_url)
            return summary_ready(chromium) == "True"

        wait_until(shown_ready, timeout=180, interval=2, message="the cluster's page showing the guest Ready")
        assert wait_ready(kube, "shop", namespace, timeout=10)["kubernetesVersion"] == "1.36.3"
        endpoint = clusters.summarize(kube.get(AWS_CONFIG, "shop", namespace)).endpoint
        page = chromium.text()
        assert endpoint.startswith("https://api.")
        assert endpoint in page, "the guest's API endpoint, as the operator reported it"
        assert f"AWSConfig/{namespace}/shop" in page
        chromium.screenshot(tmp_path / "02-aws-ready.png")
    finally:
        server.shutdown()
        server.server_close()
