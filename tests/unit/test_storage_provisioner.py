"""The local cluster's storage, checked without starting anything: the provisioner's config, helper
pod, RBAC and command line, the storage classes, the kwok stage that finishes helper pods on kwok
nodes, which classes the values files and profiles ask for, and how the provisioner is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lfk8s import versions
from lfk8s.cluster import kwok_stages, processes
from lfk8s.cluster.local import LocalCluster
from lfk8s.cluster.node_config import REAL_NODE_LABEL
from lfk8s.cluster.state import ClusterState
from lfk8s.cluster.storage_objects import (
    DEFAULT_CLASS,
    HELPER_LABEL,
    PROVISIONER,
    USER,
    LocalPathStorage,
    helper_pod_stage,
    kwok_stages_yaml,
)
from lfk8s.cluster.storage_provisioner import classes_named_in, describe, for_cluster
from lfk8s.paths import ProjectPaths
from lfk8s.toolchain.storagebuild import PROVISIONER_PACKAGE, provisioner_tool


def test_config_shares_one_directory_under_the_cluster_state(tmp_path: Path) -> None:
    storage = LocalPathStorage(tmp_path)
    config = storage.config()
    # Upstream refuses a config with both modes; the shared one serves ReadWriteMany claims.
    assert config["nodePathMap"] == []
    assert Path(config["sharedFileSystemPath"]) == tmp_path / "local-path"
    storage.write_files()
    assert json.loads(storage.config_file.read_text()) == config
    assert yaml.safe_load(storage.helper_pod_file.read_text()) == storage.helper_pod()


def test_command_names_a_json_config_file(tmp_path: Path) -> None:
    storage = LocalPathStorage(tmp_path)
    command = storage.command(Path("/bin/lpp"))
    args = dict(zip(command[3::2], command[4::2], strict=True))
    assert command[:3] == ["/bin/lpp", "--debug", "start"]
    # The provisioner parses a --config value not ending in .json as inline JSON text.
    assert args["--config"] == str(storage.config_file) and args["--config"].endswith(".json")
    assert args["--helper-pod-file"] == str(storage.helper_pod_file)
    assert args["--provisioner-name"] == PROVISIONER
    assert args["--kubeconfig"] == str(storage.kubeconfig)


@pytest.mark.parametrize("real_node", [False, True])
def test_helper_pod_runs_on_the_real_node_only_when_there_is_one(tmp_path: Path, real_node: bool) -> None:
    pod = LocalPathStorage(tmp_path, real_node=real_node).helper_pod()
    (container,) = pod["spec"]["containers"]
    assert container["imagePullPolicy"] == "Never"  # no registry: the image is imported into the node
    assert pod["metadata"]["labels"] == dict([HELPER_LABEL])
    assert pod["spec"].get("nodeSelector") == ({REAL_NODE_LABEL: "true"} if real_node else None)


def test_one_default_class_and_every_extra_class_on_the_same_provisioner(tmp_path: Path) -> None:
    storage = LocalPathStorage(tmp_path, extra_classes=("nfs-rwx", DEFAULT_CLASS, "ceph"))
    classes = storage.storage_classes()
    assert [c["metadata"]["name"] for c in classes] == [DEFAULT_CLASS, "ceph", "nfs-rwx"]
    defaults = [c["metadata"]["name"] for c in classes
                if c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"]
    assert defaults == [DEFAULT_CLASS]
    # Immediate: a claim binds with no pod using it, as helm --wait expects of a claim.
    assert {(c["provisioner"], c["volumeBindingMode"]) for c in classes} == {(PROVISIONER, "Immediate")}


def test_objects_grant_the_provisioner_user_what_upstream_grants(tmp_path: Path) -> None:
    objects = LocalPathStorage(tmp_path).objects()
    kinds = [o["kind"] for o in objects]
    assert kinds.index("Namespace") == 0  # before what lives in it
    bindings = [o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert len(bindings) == 2 and all(b["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                                         "name": USER}] for b in bindings)
    cluster_role = next(o for o in objects if o["kind"] == "ClusterRole")
    pv_verbs = next(r["verbs"] for r in cluster_role["rules"] if r["resources"] == ["persistentvolumes"])
    assert {"create", "delete"} <= set(pv_verbs)
    scripts = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert 'mkdir -m 0777 -p "$VOL_DIR"' in scripts["setup"] and 'rm -rf "$VOL_DIR"' in scripts["teardown"]


def test_kwok_finishes_helper_pods_at_once() -> None:
    stage = helper_pod_stage()
    assert stage["spec"]["selector"]["matchLabels"] == dict([HELPER_LABEL])
    assert "matchAnnotations" not in stage["spec"]["selector"] and "delay" not in stage["spec"]
    assert "phase: Succeeded" in stage["spec"]["next"]["statusTemplate"]
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(kwok_stages_yaml())]
    assert names == [*(s["metadata"]["name"] for s in kwok_stages.stages()), "pod-complete-storage-helper"]


def _checkout(root: Path, values: dict[str, str], profiles: dict[str, str]) -> ProjectPaths:
    paths = ProjectPaths(root)
    paths.profiles_dir.mkdir(parents=True)
    for name, text in values.items():
        (paths.values_dir / name).write_text(text)
    for name, text in profiles.items():
        (paths.profiles_dir / name).write_text(text)
    return paths


def test_classes_come_from_values_files_and_profiles(tmp_path: Path) -> None:
    paths = _checkout(tmp_path,
                      {"a.yaml": "storage: {type: pvc, storageClassName: fast-rwx}\n",
                       "b.yaml": "storage: {type: existingClaim, existingClaim: x}\n",
                       "c.yaml": "storage: {type: pvc, storageClassName: ''}\n"},
                      {"d.yaml": "environment: d\nnamespace: d\nstorage-class: cephfs\n"})
    assert classes_named_in(paths) == ("cephfs", "fast-rwx")


def test_explicit_classes_win_over_the_checkout(tmp_path: Path) -> None:
    storage = for_cluster(tmp_path, True, ("only-this",))
    assert storage.classes == [DEFAULT_CLASS, "only-this"] and storage.real_node
    assert "and only-this (named by the values files)" in describe(storage) and "real node" in describe(storage)


def test_provisioner_build_is_pinned_and_version_stamped() -> None:
    tool = provisioner_tool()
    assert tool.package == PROVISIONER_PACKAGE and tool.version == versions.LOCAL_PATH_PROVISIONER_VERSION
    # Without the stamp `--version` prints upstream's placeholder 0.0.1 and the build check fails.
    assert f"-X main.VERSION={versions.LOCAL_PATH_PROVISIONER_VERSION}" in tool.ldflags
    assert tool.path.parent.name == f"local-path-provisioner-{versions.LOCAL_PATH_PROVISIONER_VERSION}"


def test_up_restarts_a_kwok_that_lacks_the_helper_stage(tmp_path: Path) -> None:
    """A cluster started before the helper stage existed: its kwok is stopped so `up` starts it anew."""
    cluster = LocalCluster(name="c", state_root=tmp_path, storage_classes=())
    cluster.state_dir.mkdir(parents=True)
    stages = cluster.state_dir / "kwok-stages.yaml"
    stages.write_text(kwok_stages.stages_yaml())
    stand_in = processes.start(["sleep", "60"], tmp_path / "kwok.log", tmp_path)
    state = ClusterState(pids={"kwok": stand_in})
    cluster._write_kwok_stages(state)
    assert not processes.alive(stand_in)
    assert stages.read_text() == kwok_stages_yaml()
    # Unchanged stages leave a running kwok alone.
    again = processes.start(["sleep", "60"], tmp_path / "kwok.log", tmp_path)
    cluster._write_kwok_stages(ClusterState(pids={"kwok": again}))
    assert processes.alive(again)
    processes.stop(again)
