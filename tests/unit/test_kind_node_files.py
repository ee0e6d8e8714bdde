"""The kind node image's own files: the runc wrapper (run for real with jq), the CNI script, the
containerd config, kind's storage manifest with the images built here, CoreDNS's plugin list."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from lfk8s.images import kind_files
from lfk8s.toolchain.kindbuild import KIND_COREDNS_PLUGINS
from lfk8s.toolchain.nodebuild import coredns_main

SPEC_CAPS = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]


@pytest.fixture
def wrapper(tmp_path: Path) -> Path:
    """The node's runc wrapper, calling a fake runc that records its arguments."""
    if shutil.which("jq") is None:
        pytest.fail("the runc wrapper test needs jq (Debian package jq), as the node image has")
    runc = tmp_path / "runc"
    runc.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\n')
    runc.chmod(0o755)
    path = tmp_path / "wrapper"
    path.write_text(kind_files.runc_wrapper().replace("RUNC=/usr/sbin/runc", f"RUNC={runc}"))
    path.chmod(0o755)
    return path


def _caps() -> dict[str, list[str]]:
    return {key: list(SPEC_CAPS) for key in ("bounding", "effective", "permitted")}


def test_wrapper_drops_sys_resource_on_create(wrapper: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": _caps(), "args": ["sh"]}}))
    args = ["--root", "/run/runc", "--log", "/l.json", "create", "--bundle", str(bundle), "id1"]
    subprocess.run([str(wrapper), *args], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    assert all(caps == ["CAP_CHOWN", "CAP_NET_ADMIN"] for caps in spec["process"]["capabilities"].values())
    assert spec["process"]["args"] == ["sh"]
    assert (tmp_path / "args").read_text().split() == args


def test_wrapper_drops_sys_resource_on_exec(wrapper: Path, tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": _caps()}))
    subprocess.run([str(wrapper), "--root", "/r", "exec", "--process", str(process), "--detach", "id1"], check=True)
    assert "CAP_SYS_RESOURCE" not in process.read_text()


def test_wrapper_leaves_other_commands_and_files_alone(wrapper: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"process": {"capabilities": _caps()}}))
    subprocess.run([str(wrapper), "state", "--bundle", str(tmp_path), "id1"], check=True, cwd=tmp_path)
    assert "CAP_SYS_RESOURCE" in config.read_text()


def test_cni_script_is_valid_bash_and_writes_a_bridge_conflist(tmp_path: Path) -> None:
    script = tmp_path / "lfk8s-cni"
    script.write_text(kind_files.cni_script())
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = kind_files.cni_script()
    conflist = text.split("{CNI_CONFIG}.tmp <<EOF\n".replace("{CNI_CONFIG}", kind_files.CNI_CONFIG), 1)[1]
    conflist = conflist.split("\nEOF\n", 1)[0].replace("$cidr", "10.244.1.0/24")
    plugins = json.loads(conflist)["plugins"]
    assert [p["type"] for p in plugins] == ["bridge", "portmap"]
    assert plugins[0]["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}]]


def test_containerd_config_uses_the_wrapper_and_this_machines_limits() -> None:
    config = tomllib.loads(kind_files.containerd_config("registry.k8s.io/pause:9"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:9"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["containerd"]["runtimes"]["runc"]["options"]["BinaryName"] == kind_files.RUNC_WRAPPER
    assert "proxy_plugins" not in config


KIND_STORAGE_GO = '''package nodeimage

const storageProvisionerImage = "docker.io/kindest/local-path-provisioner:v1"

const defaultStorageManifest = `
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - image: ` + storageProvisionerImage + `
          command: [local-path-provisioner, --helper-image, ` + storageHelperImage + `]
`
'''


def test_storage_manifest_takes_kinds_manifest_with_our_images() -> None:
    manifest = kind_files.storage_manifest(KIND_STORAGE_GO, "lfk8s.local/p:1", "lfk8s.local/h:2")
    container = yaml.safe_load(manifest)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "lfk8s.local/p:1"
    assert container["command"] == ["local-path-provisioner", "--helper-image", "lfk8s.local/h:2"]
    with pytest.raises(ValueError):
        kind_files.storage_manifest("package nodeimage\n", "p", "h")


def test_coredns_main_maps_directives_to_their_packages() -> None:
    plugin_cfg = "\n".join(f"{name}:{'metrics' if name == 'prometheus' else name}"
                           for name in ("reload", "ready", "health", "prometheus", "errors", "loadbalance",
                                        "cache", "kubernetes", "loop", "forward", "whoami"))
    source = coredns_main(plugin_cfg, KIND_COREDNS_PLUGINS)
    assert '_ "github.com/coredns/coredns/plugin/metrics"' in source
    assert '\t\t"prometheus",' in source and "whoami" not in source
    # The directives keep plugin.cfg's order, which decides the order CoreDNS runs them in.
    assert source.index('"reload",') < source.index('"prometheus",') < source.index('"forward",')
