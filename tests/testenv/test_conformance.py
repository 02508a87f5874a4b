"""``make conformance``'s pieces that are pure logic: the e2e suite's images are pushed under the names e2e.test of
the guests' version asks for, to a registry the worker VMs' mirror serves; its JUnit report is summed up per SIG."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from kubeception_testenv import conformance
from kubeception_testenv.conformance import conformance_recipes
from kubeception_testenv.images import recipes
from kubeception_testenv.platform import CONFORMANCE_IMAGES
from kvm_operator.settings import RegistrySettings

if TYPE_CHECKING:
    from pathlib import Path

# `e2e.test --list-images` of k8s.io/kubernetes v1.36.3 (test/utils/image/manifest.go): the ones pushed
E2E_IMAGES = {
    "registry.k8s.io/e2e-test-images/agnhost:2.63.0",
    "registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
    "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.0.0",
    "registry.k8s.io/e2e-test-images/nginx:1.15-4",
    "registry.k8s.io/e2e-test-images/nginx:1.27-0",
    "registry.k8s.io/pause:3.10.2",
}


def test_the_suites_images_are_pushed_under_the_names_e2e_test_asks_for():
    by_short = {recipe.short: recipe for recipe in [*recipes(), *conformance_recipes()]}
    assert set(CONFORMANCE_IMAGES) <= set(by_short)
    pulled = set()
    for short, names in CONFORMANCE_IMAGES.items():
        own = by_short[short].ref.split("/", 1)[1]
        pulled |= {f"registry.k8s.io/{name}" for name in (own, *names)}
    # the recipes' own paths of the kubeception images (pause, nginx) are pushed too; what e2e.test asks is there
    assert pulled >= E2E_IMAGES
    assert "registry.k8s.io" in RegistrySettings().mirror_of, "the VMs' mirror serves registry.k8s.io's names"
    # the suite's images are not among the ones `make images` builds (agnhost exists only after the suite's build)
    assert not {recipe.short for recipe in conformance_recipes()} & {recipe.short for recipe in recipes()}
    agnhost = by_short["agnhost-2.63.0"]
    assert agnhost.binaries == {"agnhost": "/agnhost", "coredns": "/coredns"}
    assert (agnhost.entrypoint, agnhost.cmd, agnhost.links["agnhost-2"]) == (["/agnhost"], ["pause"], "agnhost")
    busybox = by_short["busybox-1.37.0-1"]
    assert busybox.debian == ["busybox-static"]
    assert busybox.entrypoint == []
    assert {busybox.links[f"bin/{applet}"] for applet in ("sh", "cat", "nslookup", "wget", "sleep")} == {"busybox"}


JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" disabled="0" errors="0" failures="1" time="80.5">
  <testsuite name="Kubernetes e2e suite" tests="4" skipped="1" failures="1" errors="0" time="80.5">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.5"/>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]"
              classname="Kubernetes e2e suite" status="passed" time="20.25"/>
    <testcase name="[It] [sig-network] DNS should provide DNS for services  [Conformance]"
              classname="Kubernetes e2e suite" status="failed" time="59.75">
      <failure message="[FAILED] timed out | waiting for the pod&#xA;second line" type="failed">trace</failure>
    </testcase>
    <testcase name="[It] [sig-apps] Deployment deployment should support rollover [Conformance]"
              classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"/>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_the_junit_report_is_summed_up_per_sig_with_each_failures_first_line(tmp_path: Path):
    junit = tmp_path / "junit_01.xml"
    junit.write_text(JUNIT)
    tests = conformance.results(junit)
    assert [(t.sig, t.outcome, t.seconds) for t in tests] == [
        ("other", "passed", 0.5),
        ("sig-node", "passed", 20.25),
        ("sig-network", "failed", 59.75),
        ("sig-apps", "skipped", 0.0),
    ]
    lines = conformance.summary(tests).splitlines()
    assert "| sig-network | 0 | 1 | 60 |" in lines
    assert "| sig-node | 1 | 0 | 20 |" in lines
    assert "| **all** | **1** | **1** | **80** |" in lines, "the suite's own nodes are not tests"
    assert "1 skipped (outside the focus or skipped by the suite)." in lines
    failed = next(line for line in lines if "DNS should provide" in line)
    assert failed.endswith("| failed | 60 | [FAILED] timed out \\| waiting for the pod |")
    assert not any("rollover" in line for line in lines), "skipped tests are counted, not listed"


def test_e2e_test_gets_the_guests_api_by_host_name_resolved_by_its_own_hosts_file():
    """e2e.test overrides its kubeconfig's server, which makes client-go drop ``tls-server-name``: the ingress,
    which routes the guest's API by SNI, would close the connection."""
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "demo",
                    "cluster": {
                        "server": "https://10.213.215.10:443",
                        "tls-server-name": "api.demo.kubeception.test",
                        "certificate-authority-data": "Q0E=",
                    },
                }
            ],
        }
    )
    rewritten, hosts = conformance.by_name(kubeconfig, "127.0.0.1 localhost\n")
    (cluster,) = yaml.safe_load(rewritten)["clusters"]
    server = "https://api.demo.kubeception.test:443"
    assert cluster["cluster"] == {"server": server, "certificate-authority-data": "Q0E="}
    assert hosts == "127.0.0.1 localhost\n10.213.215.10 api.demo.kubeception.test\n"
