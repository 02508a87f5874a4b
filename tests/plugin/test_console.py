"""`kubectl kubeception console` against the real API server of tests/plugin/conftest.py (the organizations chart's
roles, two organizations, alice a member of one), looked at in headless Chromium: the organizations, the cluster
list, a cluster's page reached with the keyboard only, back; a member sees her organization only and a page she may
not read names the refusal; she scales a cluster from its page (previewed in a dry run, refused by her quota, then
applied), creates a KVM and an AWS guest from the form, and posts not from the console's own form change nothing; a
platform admin sees every organization.
Screenshots of each page are kept under the test's tmp dir (their paths are printed)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from kubeception_testenv import find_binary
from kubectl_kubeception import console, manifests
from kubectl_kubeception.mother import AWS_CONFIG, CREDENTIAL_REQUEST, KVM_CONFIG, Mother
from operatorkit.kinds import EVENT
from operatorkit.testing import wait_until
from tests.plugin.conftest import cluster_id, issue, now, operator_status, pending_request, ready, whoami

if TYPE_CHECKING:
    from kubeception_testenv import ControlPlane
    from tests import browser
    from tests.plugin.conftest import Orgs

pytestmark = pytest.mark.servers

BIN = Path(sys.executable).parent  # kubectl-kubeception, beside kubectl
HOSTILE = "<script>alert('owned')</script>"


def started(config: Path, namespace: str) -> tuple[subprocess.Popen[str], str]:
    """``kubectl kubeception console`` as a person starts it (kubectl finds the plugin on PATH), and the address it
    prints."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": str(config)}
    process = subprocess.Popen(
        [str(find_binary("kubectl")), "kubeception", "console", "-n", namespace],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if readable else ""
    assert line.startswith("console: http://127.0.0.1:"), line + (process.stderr.read() if process.stderr else "")
    return process, line.removeprefix("console: ").strip()


def status_of(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def posted(url: str, fields: dict[str, str], headers: dict[str, str]) -> int:
    """The status a form post to the console gets."""
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_member_sees_her_organization_and_walks_list_cluster_and_back_in_a_browser(
    orgs: Orgs, chromium: browser.Browser, tmp_path: Path
) -> None:
    begun = time.monotonic()
    kvm, aws, other = cluster_id(), cluster_id(), cluster_id()
    common = {"version": "1.36.3", "workers": 2, "pool": "default", "replicas": 1}
    for name, namespace in ((kvm, orgs.a), (other, orgs.b)):
        obj = manifests.kvm_config(name, namespace, cpus=None, memory=None, **common)
        orgs.admin.create(KVM_CONFIG, obj, namespace)
    made = manifests.aws_config(aws, orgs.a, region="eu-central-1", zones=("eu-central-1a",), credentials="aws-account",
                                instance_type=None, **common)  # fmt: skip
    orgs.admin.create(AWS_CONFIG, made, orgs.a)
    endpoint = f"https://api.{kvm}.example.test:443"
    operator_status(orgs.admin, KVM_CONFIG, kvm, orgs.a, {
        "kubernetesVersion": "1.36.3", "workers": "1/2", "endpoint": endpoint, "controlPlaneReady": "1/1",
        "conditions": [*ready(f"Kubernetes 1.36.3 at {endpoint}"), {
            "type": "WorkersReady", "status": "False", "reason": "Joining", "message": f"node {HOSTILE} not Ready",
            "lastTransitionTime": now(),
        }],
        "workerPools": [{"name": "default", "desired": 2, "ready": 1, "upToDate": 2, "version": "1.36.3", "nodes": [
            {"name": "worker-default-0", "ready": True, "version": "1.36.3", "upToDate": True},
            {"name": "worker-default-1", "ready": False, "version": "1.36.3", "upToDate": True},
        ]}],
    })  # fmt: skip
    uid = orgs.admin.get(KVM_CONFIG, kvm, orgs.a)["metadata"]["uid"]
    orgs.admin.create(EVENT, {
        "metadata": {"name": f"{kvm}.{uuid.uuid4().hex[:8]}"},
        "involvedObject": {"apiVersion": KVM_CONFIG.api_version, "kind": "KVMConfig", "name": kvm,
                           "namespace": orgs.a, "uid": uid},
        "type": "Normal", "reason": "Scaled", "message": "pool default: 1 → 2 workers", "count": 1,
        "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "kvm-operator"},
    }, orgs.a)  # fmt: skip
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(chromium.screenshot(tmp_path / f"{len(shots) + 1:02d}-{name}.png"))

    process, url = started(orgs.alice_config, orgs.a)
    base = url.split("/?", 1)[0]
    try:
        # the address's token is exchanged for a cookie; without it, or at another Host, nothing is answered
        assert status_of(base + "/", {}) == 403
        token = url.split("token=", 1)[1]
        assert status_of(base + "/", {"Cookie": f"kubeception-console={token}", "Host": "evil.example"}) == 421

        chromium.go(url)
        assert chromium.url == base + "/"  # the token left the address bar
        assert chromium.title == "Organizations · kubeception console"
        home = chromium.text()
        assert orgs.name_a in home
        assert orgs.name_b not in home  # her organization only
        assert "You may not list namespaces" in home
        assert kvm in home
        assert aws in home
        shot("organizations")

        chromium.click("nav a[href='/clusters']")
        wait_until(lambda: chromium.url == base + "/clusters", timeout=10)
        listed = chromium.text()
        assert kvm in listed
        assert aws in listed
        assert other not in listed
        assert endpoint in listed
        assert "1/2" in listed
        assert f"kubectl kubeception get clusters -n {orgs.a}" in listed  # the command for what she sees
        shot("clusters")

        # keyboard only: Tab to the cluster's link, Enter
        target = f"/clusters/{orgs.a}/{kvm}"
        for _ in range(40):
            if chromium.focused() == target:
                break
            chromium.keys("tab")
        assert chromium.focused() == target
        chromium.keys("enter")
        wait_until(lambda: chromium.url == base + target, timeout=10)
        page = chromium.text()
        for expected in (
            f"KVMConfig/{orgs.a}/{kvm}",
            "WorkersReady",
            f"node {HOSTILE} not Ready",  # shown as text, never run
            "Node/worker-default-1",
            "1/2 ready, 2 up to date, v1.36.3",
            "not readable with your permissions: CAConfig, CertConfigs, FlannelConfig, IngressConfig",
            "pool default: 1 → 2 workers",
            f"kubectl kubeception describe cluster {kvm} -n {orgs.a}",
        ):
            assert expected in page, expected
        assert chromium.script("return document.scripts.length") == 0
        shot("cluster")

        chromium.back()
        wait_until(lambda: chromium.url == base + "/clusters", timeout=10)
        assert kvm in chromium.text()
        shot("back-to-clusters")

        # another organization's clusters: a page naming what was refused
        chromium.go(f"{base}/orgs/{orgs.name_b}/clusters")
        refused = chromium.text()
        assert "Forbidden" in refused
        assert f"you may not list kvmconfigs.kubeception.io in namespace {orgs.b}" in refused
        assert status_of(f"{base}/orgs/{orgs.name_b}/clusters", {"Cookie": f"kubeception-console={token}"}) == 403
        shot("forbidden")

        # a change: previewed in a server-side dry run (nothing written), refused there by her organization's quota;
        # then another previewed and applied from the preview's form
        def replicas() -> int:
            return int(orgs.admin.get(KVM_CONFIG, kvm, orgs.a)["spec"]["workerPools"][0]["replicas"])

        def previewed(workers: int) -> str:
            chromium.go(base + target)
            chromium.fill("#workers-default", str(workers))
            chromium.click("form[action$='/scale'] button")
            wait_until(lambda: chromium.url == f"{base}{target}/scale", timeout=10)
            return chromium.text()

        refused = previewed(4)
        assert "refused at admission" in refused
        assert "allows 3 per cluster" in refused
        assert "Apply" not in refused
        shot("change-refused")
        preview = previewed(3)
        assert "pool default: 2 → 3 workers" in preview
        assert "accepted this change in a dry run" in preview
        assert '"replicas": 3' in preview
        assert f"kubectl kubeception scale cluster {kvm} -n {orgs.a} --pool default --workers 3" in preview
        assert replicas() == 2, "the dry run wrote nothing"
        shot("change-preview")
        chromium.click("form.change button")
        wait_until(lambda: "Applied" in chromium.text(), timeout=10)
        assert replicas() == 3
        shot("change-applied")

        # posts that are not this console's own form change nothing: no form token, another origin, no cookie;
        # the same post with all three applies (so each refusal was for what it lacked)
        cookie = f"kubeception-console={token}"
        version = orgs.admin.get(KVM_CONFIG, kvm, orgs.a)["metadata"]["resourceVersion"]
        fields = {"pool": "default", "workers": "1", "step": "apply", "resourceVersion": version}
        signed = {**fields, "csrf": console.form_token(token)}
        change = f"{base}{target}/scale"
        assert posted(change, fields, {"Cookie": cookie}) == 403
        assert posted(change, signed, {"Cookie": cookie, "Origin": "http://evil.example"}) == 403
        assert posted(change, signed, {}) == 403
        assert replicas() == 3
        assert posted(change, signed, {"Cookie": cookie, "Origin": base}) == 200
        assert replicas() == 1

        # a new cluster from her organization's page: previewed in a dry run (nothing made), then created
        created = cluster_id()
        chromium.go(f"{base}/orgs/{orgs.name_a}/clusters")
        chromium.fill("#new-name", created)
        chromium.fill("#new-workers", "2")
        assert chromium.script("return document.getElementById('new-version').value") == "1.36.3"  # the newest
        chromium.click("form[action$='/new'] button")
        wait_until(lambda: chromium.url == f"{base}/orgs/{orgs.name_a}/clusters/new", timeout=10)
        preview = chromium.text()
        assert "accepted this change in a dry run" in preview
        assert f"kubectl kubeception create cluster {created} -n {orgs.a} --version 1.36.3 --workers 2" in preview
        assert orgs.admin.get_or_none(KVM_CONFIG, created, orgs.a) is None, "the dry run made nothing"
        shot("create-preview")
        chromium.click("form.change button")
        wait_until(lambda: "Applied" in chromium.text(), timeout=10)
        made = orgs.admin.get(KVM_CONFIG, created, orgs.a)["spec"]
        assert (made["clusterID"], made["workerPools"][0]["replicas"]) == (created, 2)
        shot("create-applied")

        # an AWS guest from the same form: a zone outside the region is refused on the page, before any round trip
        aws_made = cluster_id()

        def fill_aws(zones: str) -> None:
            chromium.go(f"{base}/orgs/{orgs.name_a}/clusters")
            chromium.click("#new-kind option[value='aws']")
            chromium.fill("#new-name", aws_made)
            chromium.fill("#new-region", "eu-west-1")
            chromium.fill("#new-zones", zones)
            chromium.click("form[action$='/new'] button")
            wait_until(lambda: chromium.url == f"{base}/orgs/{orgs.name_a}/clusters/new", timeout=10)

        fill_aws("eu-west-1a eu-central-1b")
        assert "availability zone eu-central-1b is not in region eu-west-1" in chromium.text()
        fill_aws("eu-west-1a eu-west-1b")
        preview = chromium.text()
        assert "accepted this change in a dry run" in preview
        assert "--kind aws" in preview
        assert "--region eu-west-1 --zone eu-west-1a --zone eu-west-1b --credentials-secret aws-account" in preview
        shot("create-aws-preview")
        chromium.click("form.change button")
        wait_until(lambda: "Applied" in chromium.text(), timeout=10)
        spec = orgs.admin.get(AWS_CONFIG, aws_made, orgs.a)["spec"]
        assert (spec["region"], spec["availabilityZones"]) == ("eu-west-1", ["eu-west-1a", "eu-west-1b"])
    finally:
        process.terminate()
        process.wait(timeout=30)

    # a platform admin's console shows every organization
    server = console.serve(Mother.connect(str(orgs.admin_config), None), ["default"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chromium.go(server.url)
        home = chromium.text()
        assert orgs.name_a in home
        assert orgs.name_b in home
        assert other in home
        shot("admin-organizations")
    finally:
        server.shutdown()
        server.server_close()
    for path in shots:
        print(f"screenshot: {path}")
    print(f"console walk: {time.monotonic() - begun:.1f}s")


def test_a_member_logs_in_from_the_console_and_gets_a_working_kubeconfig_of_her_own(
    orgs: Orgs, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The cluster page's log-in form, posted as her browser posts it: the console makes the key, the mother gets only
    the CSR (her identity set by admission), and the answer is a kubeconfig download the API server authenticates as
    her; a lifetime the form does not offer is refused before anything is asked."""
    name = cluster_id()
    orgs.admin.create(KVM_CONFIG, {"metadata": {"name": name}, "spec": {"clusterID": name,
                      "kubernetesVersion": "1.36.3"}}, orgs.a)  # fmt: skip
    operator_status(orgs.admin, KVM_CONFIG, name, orgs.a, {"endpoint": control_plane.url, "conditions": ready("up")})
    server = console.serve(Mother.connect(str(orgs.alice_config), None), [orgs.a])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.port}"
    headers = {"Cookie": f"kubeception-console={server.token}", "Origin": base}
    form = {"access": "edit", "ttl": "1h", "csrf": console.form_token(server.token)}
    url = f"{base}/clusters/{orgs.a}/{name}/login"
    answers: list[tuple[int, dict[str, str], bytes]] = []
    try:
        assert posted(url, {**form, "ttl": "100h"}, headers) == 400
        assert not [i for i in orgs.admin.list(CREDENTIAL_REQUEST, orgs.a)["items"] if i["spec"]["cluster"] == name]

        def post() -> None:
            body = urllib.parse.urlencode(form).encode()
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
            with urllib.request.urlopen(request, timeout=90) as answer:
                answers.append((int(answer.status), dict(answer.headers), answer.read()))

        poster = threading.Thread(target=post)
        poster.start()
        request = pending_request(orgs, name)
        assert (request["spec"]["user"], request["spec"]["access"], request["spec"]["ttl"]) == (
            orgs.alice,
            "edit",
            "1h",
        )
        issue(orgs, control_plane, request)
        poster.join(timeout=90)
    finally:
        server.shutdown()
        server.server_close()
    status, answered, body = answers[0]
    assert status == 200
    assert answered["Content-Type"] == "application/yaml"
    assert answered["Content-Disposition"] == f'attachment; filename="{name}-{orgs.alice}.kubeconfig"'
    assert "PRIVATE KEY" not in json.dumps(orgs.admin.get(CREDENTIAL_REQUEST, request["metadata"]["name"], orgs.a))
    downloaded = tmp_path / "downloaded.kubeconfig"
    downloaded.write_bytes(body)
    assert yaml.safe_load(body)["current-context"] == f"{name}-{orgs.alice}"
    assert whoami(downloaded) == orgs.alice


def test_a_followed_cluster_page_is_answered_when_the_cluster_changes(orgs: Orgs) -> None:
    """Follow live: the page reloads from ``?live=1&after=<resourceVersion>``, which the console answers once the
    cluster changed (a watch of it alone, as her) — the operator's new status on the page — or, with no change, after
    its wait with the same page to reload again."""
    name = cluster_id()
    orgs.admin.create(KVM_CONFIG, {"metadata": {"name": name}, "spec": {"clusterID": name,
                      "kubernetesVersion": "1.36.3"}}, orgs.a)  # fmt: skip
    operator_status(orgs.admin, KVM_CONFIG, name, orgs.a, {"workers": "0/2", "conditions": ready("up")})
    reader = console.Reader(Mother.connect(str(orgs.alice_config), None), [orgs.a], live_wait=3)
    page = reader.route(f"/clusters/{orgs.a}/{name}", {"live": ["1"]}).body.decode()
    version = orgs.admin.get(KVM_CONFIG, name, orgs.a)["metadata"]["resourceVersion"]
    follow = f"/clusters/{orgs.a}/{name}?live=1&amp;after={version}"
    assert f'<meta http-equiv="refresh" content="0; url={follow}">' in page

    started = time.monotonic()
    same = reader.route(f"/clusters/{orgs.a}/{name}", {"live": ["1"], "after": [version]}).body.decode()
    assert time.monotonic() - started >= 2.5, "no change: answered only after the wait"
    assert follow in same

    answered: list[str] = []
    waiting = console.Reader(Mother.connect(str(orgs.alice_config), None), [orgs.a], live_wait=60)
    poll = threading.Thread(
        target=lambda: answered.append(
            waiting.route(f"/clusters/{orgs.a}/{name}", {"live": ["1"], "after": [version]}).body.decode()
        )
    )
    poll.start()
    operator_status(orgs.admin, KVM_CONFIG, name, orgs.a, {"workers": "2/2", "conditions": ready("up")})
    poll.join(timeout=30)
    assert answered, "the change answered the pending reload (well before its 60 s wait)"
    assert "2/2" in answered[0]
    changed = orgs.admin.get(KVM_CONFIG, name, orgs.a)["metadata"]["resourceVersion"]
    assert f"after={changed}" in answered[0]
