"""The real node's configuration, images and builds, checked without starting anything: every path
stays under the node's directory, the runc wrapper drops CAP_SYS_RESOURCE, image archives are
what `ctr images import` reads, and the API server is told how to reach kubelet."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest

from lfk8s.cluster import node_config, node_host, node_images
from lfk8s.cluster.local import COMPONENTS, LocalCluster
from lfk8s.cluster.node_config import GATEWAY, NodeLayout
from lfk8s.cluster.real_node import NODE_COMPONENTS, RealNode
from lfk8s.cluster.state import ClusterState
from lfk8s.testing import realnode
from lfk8s.toolchain import nodebuild
from lfk8s.versions import CONTAINERD_VERSION, COREDNS_VERSION, CRICTL_VERSION

LAYOUT = NodeLayout(Path("/state/c/node"))


def strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_containerd_config_is_schema_3_and_keeps_to_the_node_directory() -> None:
    config = tomllib.loads(node_config.containerd_config(LAYOUT, Path("/usr/lib/cni")))
    assert config["version"] == 3 and config["imports"] == []
    assert "io.containerd.grpc.v1.cri" in config["required_plugins"]
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True and runtime["netns_mounts_under_state_dir"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert runc == {"BinaryName": str(LAYOUT.runc_wrapper), "SystemdCgroup": False, "Root": "/state/c/node/runc"}
    assert config["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == node_config.SANDBOX_IMAGE
    paths = [s for s in strings(config) if s.startswith("/")]
    assert paths and all(p.startswith("/state/c/node/") or p == "/usr/lib/cni" for p in paths), paths


def test_runc_wrapper_drops_cap_sys_resource(tmp_path: Path) -> None:
    fake_runc = tmp_path / "runc"
    fake_runc.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\n")
    fake_runc.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(node_config.runc_wrapper(fake_runc))
    wrapper.chmod(0o755)
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    spec = {"process": {"capabilities": {key: list(caps) for key in ("bounding", "effective", "permitted")}}}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    args = ["--root", "/run/x", "--log", "log.json", "create", "--bundle", str(tmp_path), "--pid-file", "p", "id1"]
    subprocess.run([str(wrapper), *args], check=True)
    assert (tmp_path / "args").read_text().split() == args
    written = json.loads((tmp_path / "config.json").read_text())["process"]["capabilities"]
    assert all(value == ["CAP_CHOWN", "CAP_SYS_ADMIN"] for value in written.values())
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"bounding": list(caps)}}))
    subprocess.run([str(wrapper), "--root", "/run/x", "exec", "--process", str(process), "id1"], check=True)
    assert json.loads(process.read_text())["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_kubelet_proxy_cni_and_dns_configs() -> None:
    kubelet = node_config.kubelet_config(LAYOUT, Path("/p/ca.crt"), Path("/p/k.crt"), Path("/p/k.key"), 1, 2)
    assert kubelet["failCgroupV1"] is False and kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authentication"]["webhook"]["enabled"] is True and kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["clusterDNS"] == [node_config.CLUSTER_DNS] and kubelet["address"] == GATEWAY
    assert kubelet["registerWithTaints"] == [node_config.REAL_NODE_TAINT]
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{LAYOUT.containerd_socket}"
    assert kubelet["podLogsDir"].startswith(str(LAYOUT.root))
    # Preloaded images cannot be pulled again: never garbage-collected, and no percentage threshold
    # that a filesystem with most blocks reserved would trip.
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert not any(value.endswith("%") for key, value in kubelet["evictionHard"].items() if "available" in key)
    proxy = node_config.kube_proxy_config(Path("/k"), "n", 3, 4)
    assert proxy["mode"] == "iptables" and proxy["conntrack"]["maxPerCore"] == 0
    assert proxy["iptables"]["localhostNodePorts"] is False and proxy["clusterCIDR"] == node_config.POD_CIDR
    cni = node_config.cni_conflist(LAYOUT)
    bridge = cni["plugins"][0]
    assert bridge["bridge"] == node_config.BRIDGE and len(node_config.BRIDGE) <= 15
    assert bridge["ipam"]["ranges"] == [[{"subnet": node_config.POD_CIDR, "gateway": GATEWAY}]]
    assert bridge["ipam"]["dataDir"].startswith(str(LAYOUT.root))
    corefile = node_config.corefile(Path("/k/coredns.kubeconfig"), 5, 6)
    assert f"bind {GATEWAY}" in corefile and "kubernetes cluster.local" in corefile
    assert "kubeconfig /k/coredns.kubeconfig" in corefile and "ready 127.0.0.1:6" in corefile


def test_api_server_binds_to_the_node_address_and_calls_kubelet_with_a_certificate(tmp_path: Path) -> None:
    cluster = LocalCluster(name="c", state_root=tmp_path, real_node=True)
    state = ClusterState(ports={"etcd-client": 1, "etcd-peer": 2, "apiserver": 3, "kwok": 4}, real_node=True)
    apiserver = cluster.command("kube-apiserver", Path("/bin/kube-apiserver"), state)
    assert apiserver[apiserver.index("--bind-address") + 1] == GATEWAY
    assert apiserver[apiserver.index("--advertise-address") + 1] == GATEWAY
    assert apiserver[apiserver.index("--kubelet-client-certificate") + 1].endswith("apiserver-kubelet-client.crt")
    assert "--kubelet-certificate-authority" in apiserver
    assert set(COMPONENTS).isdisjoint(NODE_COMPONENTS)
    node = RealNode("c", tmp_path / "c", cluster.pki)
    servers, clients = node.credentials()
    assert servers["kubelet"] == ["c-real", GATEWAY]
    assert clients["kubelet-client"] == ("system:node:c-real", "system:nodes")
    assert clients["kube-proxy"] == ("system:kube-proxy", None)
    tools = {name: Path(f"/bin/{name}") for name in ("kubelet", "kube-proxy", "containerd", "coredns")}
    kubelet = node.command("kubelet", tools)
    assert kubelet[kubelet.index("--node-ip") + 1] == GATEWAY
    assert kubelet[kubelet.index("--node-labels") + 1] == f"{node_config.REAL_NODE_LABEL}=true"


def test_old_state_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"ports": {"apiserver": 1}, "pids": {"etcd": 2}}))
    state = ClusterState.load(path)
    assert state.real_node is False and state.host == {} and state.ports == {"apiserver": 1}


def test_iptables_rule_lines_become_delete_commands() -> None:
    line = '-A FORWARD -i lfk8s0 -m comment --comment "lfk8s-real-node" -j ACCEPT'
    assert node_host._delete_args(line) == ["-D", "FORWARD", "-i", "lfk8s0", "-m", "comment", "--comment",
                                            "lfk8s-real-node", "-j", "ACCEPT"]


def test_image_archive_is_a_reproducible_docker_archive(tmp_path: Path) -> None:
    spec = node_images.ImageSpec("lfk8s.local/x:1", [node_images.ImageFile("bin/tool", b"#!x", 0o755),
                                                     node_images.ImageFile("bin/sh", link="tool")], cmd=["sh"])
    first = node_images.write_archive(spec, tmp_path / "a.tar").read_bytes()
    assert node_images.write_archive(spec, tmp_path / "b.tar").read_bytes() == first
    with tarfile.open(tmp_path / "a.tar") as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest[0]["RepoTags"] == ["lfk8s.local/x:1"]
        layer = archive.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
        config = json.loads(archive.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    assert config["config"]["Cmd"] == ["sh"] and config["architecture"] == "amd64"
    with tarfile.open(fileobj=io.BytesIO(layer)) as files:
        assert files.getnames() == ["bin", "bin/sh", "bin/tool"]
        assert files.getmember("bin/sh").issym() and files.getmember("bin/tool").mode == 0o755


def test_deb_members_and_the_busybox_image() -> None:
    def member(name: str, data: bytes) -> bytes:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        return header + data + (b"\n" if len(data) % 2 else b"")

    deb = b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("data.tar.xz", b"xyz")
    assert node_images.deb_member(deb, "data.tar") == ("data.tar.xz", b"xyz")
    spec = node_images.busybox_image_spec(b"ELF", ["busybox", "sh", "httpd"], "lfk8s.local/busybox:test")
    assert {f.path: f.link for f in spec.files if f.link} == {"bin/sh": "busybox", "bin/httpd": "busybox"}
    assert any(f.path == "www/index.html" for f in spec.files)


def test_client_hello_is_one_well_formed_tls_record() -> None:
    hello = realnode.tls12_client_hello("kubernetes.default.svc")
    assert hello[0] == 0x16 and struct.unpack(">H", hello[3:5])[0] == len(hello) - 5
    assert hello[5] == 0x01 and int.from_bytes(hello[6:9], "big") == len(hello) - 9
    assert b"kubernetes.default.svc" in hello
    reply = (b"\x16\x03\x03\x00\x08" + b"\x02\x00\x00\x00" + b"\x0b\x00\x00\x00"
             + b"\x16\x03\x03\x00\x04" + b"\x0e\x00\x00\x00")
    assert realnode.server_handshake_types(reply) == [2, 11, 14]


def test_coredns_is_built_with_its_plugins_in_upstream_order() -> None:
    plugin_cfg = "# comment\nbind:bind\nready:ready\nhealth:health\nerrors:errors\nlog:log\ncache:cache\n" \
                 "kubernetes:kubernetes\nloop:loop\nforward:forward\nwhoami:whoami\n"
    order = nodebuild.coredns_plugin_order(plugin_cfg, ("forward", "kubernetes", "bind", "ready", "health",
                                                        "errors", "log", "cache", "loop"))
    assert order == ["bind", "ready", "health", "errors", "log", "cache", "kubernetes", "loop", "forward"]
    main = nodebuild.coredns_main(plugin_cfg, nodebuild.COREDNS_PLUGINS)
    assert '_ "github.com/coredns/coredns/plugin/kubernetes"' in main and "coremain.Run()" in main
    with pytest.raises(Exception, match="no plugin"):
        nodebuild.coredns_plugin_order(plugin_cfg, ("etcd",))
    assert f"version.Version={CONTAINERD_VERSION}" in nodebuild.containerd_ldflags()
    assert f"Version={CRICTL_VERSION}" in nodebuild.crictl_ldflags()


def test_cached_node_tools_are_returned_without_building(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LFK8S_CACHE", str(tmp_path))
    from lfk8s.toolchain import kubebuild
    expected = {name: kubebuild.kubernetes_node_dir() / name for name in kubebuild.KUBERNETES_NODE_COMMANDS}
    expected.update({name: nodebuild.containerd_dir() / name for name in nodebuild.CONTAINERD_COMMANDS})
    expected["crictl"] = nodebuild.crictl_dir() / "crictl"
    expected["coredns"] = nodebuild.coredns_dir() / "coredns"
    expected["pause"] = nodebuild.pause_dir() / "pause"
    for path in expected.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    assert nodebuild.coredns_dir().name == f"coredns-{COREDNS_VERSION}"
    assert nodebuild.ensure_node_tools(packages=False) == expected
