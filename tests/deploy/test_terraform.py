"""deploy/terraform: `terraform fmt -check` when terraform is installed, and the configuration parsed with
python-hcl2: three instances, one security group per layer with only the needed ingress, the outputs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "deploy" / "terraform"


def test_expected_files() -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "templates/user_data.sh.tftpl"):
        assert (TERRAFORM_DIR / name).is_file(), name


def test_terraform_fmt(tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform not on PATH (fmt check skipped; hcl2 parsing still runs)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", "-recursive", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TF_IN_AUTOMATION": "1",
            "TF_CLI_CONFIG_FILE": str(tmp_path / "none.tfrc"),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def variables(tf: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    return {name: body for block in tf["variable"] for name, body in block.items()}


def locals_(tf: dict[str, list[Any]]) -> dict[str, Any]:
    return {k: v for block in tf.get("locals", []) for k, v in block.items()}


def resolve(value: Any, tf: dict[str, list[Any]]) -> Any:
    """``${local.x}`` → the local's literal value."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        if match:
            return locals_(tf)[match.group(1)]
    return value


def test_three_instances_with_variable_types(terraform, tf_resources) -> None:
    instances = tf_resources(terraform, "aws_instance")
    assert set(instances) == {"iot", "edge", "cloud"}
    defaults = {"iot": "t3.micro", "edge": "t3.medium", "cloud": "t3.micro"}
    declared = variables(terraform)
    for layer, instance in instances.items():
        assert instance["instance_type"] == f"${{var.{layer}_instance_type}}"
        assert declared[f"{layer}_instance_type"]["default"] == defaults[layer]
        assert instance["key_name"] == "${var.key_name}"
        assert instance["ami"] == "${data.aws_ami.ubuntu.id}"
        assert instance["vpc_security_group_ids"] == [f"${{aws_security_group.{layer}.id}}"]
        assert "templatefile(" in instance["user_data"]
        assert f'layer = "{layer}"' in instance["user_data"]
    assert "default" not in declared["key_name"]


def test_ami_from_a_data_source(terraform) -> None:
    amis = {
        name: body
        for block in terraform["data"]
        for rtype, named in block.items()
        if rtype == "aws_ami"
        for name, body in named.items()
    }
    assert "ubuntu" in amis
    filters = amis["ubuntu"]["filter"]
    names = next(f for f in filters if f["name"] == "name")["values"]
    assert any("ubuntu-noble-24.04" in n for n in names)
    assert amis["ubuntu"]["owners"] == ["099720109477"]


def test_only_the_cloud_has_the_instance_profile(terraform, tf_resources) -> None:
    instances = tf_resources(terraform, "aws_instance")
    assert "var.iam_instance_profile" in instances["cloud"]["iam_instance_profile"]
    assert "iam_instance_profile" not in instances["iot"] and "iam_instance_profile" not in instances["edge"]
    assert variables(terraform)["iam_instance_profile"]["default"] == "LabInstanceProfile"
    # containers reach the instance metadata service (IMDSv2) through the Docker bridge: 2 hops
    options = instances["cloud"]["metadata_options"][0]
    assert options["http_tokens"] == "required" and options["http_put_response_hop_limit"] == 2


def test_security_groups_open_only_what_each_layer_needs(terraform, tf_resources) -> None:
    groups = tf_resources(terraform, "aws_security_group")
    assert set(groups) == {"iot", "edge", "cloud"}
    for name, group in groups.items():
        assert "ingress" not in group and "egress" not in group, f"{name}: rules belong in rule resources"
    rules = set()
    for rule in tf_resources(terraform, "aws_vpc_security_group_ingress_rule").values():
        group = re.fullmatch(r"\$\{aws_security_group\.(\w+)\.id\}", rule["security_group_id"]).group(1)
        from_port, to_port = resolve(rule["from_port"], terraform), resolve(rule["to_port"], terraform)
        assert from_port == to_port and rule["ip_protocol"] == "tcp"
        if "cidr_ipv4" in rule:
            source = rule["cidr_ipv4"]
        else:
            source = (
                re.fullmatch(
                    r"\$\{aws_security_group\.(\w+)\.id\}", rule["referenced_security_group_id"]
                ).group(1)
                + "_sg"
            )
        rules.add((group, from_port, source))
    assert rules == {
        ("iot", 22, "${var.ssh_cidr}"),
        ("edge", 22, "${var.ssh_cidr}"),
        ("edge", 8000, "iot_sg"),
        ("cloud", 22, "${var.ssh_cidr}"),
        ("cloud", 8080, "edge_sg"),
    }
    assert "default" not in variables(terraform)["ssh_cidr"], "SSH must not default to the whole internet"


def test_outputs(terraform) -> None:
    outputs = {name: body for block in terraform["output"] for name, body in block.items()}
    expected = {f"{layer}_{kind}_ip" for layer in ("iot", "edge", "cloud") for kind in ("public", "private")}
    assert expected | {"edge_url", "cloud_url", "ssh_hosts"} <= set(outputs)
    for layer in ("iot", "edge", "cloud"):
        assert outputs[f"{layer}_public_ip"]["value"] == f"${{aws_instance.{layer}.public_ip}}"
        assert outputs[f"{layer}_private_ip"]["value"] == f"${{aws_instance.{layer}.private_ip}}"
    assert outputs["edge_url"]["value"] == "${local.edge_url}"
    assert outputs["cloud_url"]["value"] == "${local.cloud_url}"
    assert locals_(terraform)["edge_url"] == "http://${aws_instance.edge.private_ip}:${local.edge_port}"
    assert locals_(terraform)["cloud_url"] == "http://${aws_instance.cloud.private_ip}:${local.cloud_port}"
    assert set(outputs["ssh_hosts"]["value"]) == {"iot", "edge", "cloud"}
    assert outputs.get("cloud_token", {}).get("sensitive") is True


def test_ssh_hosts_output_is_what_collect_reads(terraform) -> None:
    """`terraform output -json` as apply would print it, read by edgewatch collect's host-list parser."""
    from edgewatch.report.ssh_source import parse_hosts

    outputs = {name: body for block in terraform["output"] for name, body in block.items()}
    ips = {"iot": "198.51.100.10", "edge": "198.51.100.20", "cloud": "198.51.100.30"}
    value = {
        layer: target.replace("${var.ssh_user}", "ubuntu").replace(
            f"${{aws_instance.{layer}.public_ip}}", ips[layer]
        )
        for layer, target in outputs["ssh_hosts"]["value"].items()
    }
    output_json = {
        "edge_url": {"sensitive": False, "type": "string", "value": "http://172.31.5.20:8000"},
        "ssh_hosts": {"sensitive": False, "type": ["object", {}], "value": value},
    }
    hosts = parse_hosts(json.dumps(output_json))
    assert {(h.label, h.target) for h in hosts} == {(layer, f"ubuntu@{ip}") for layer, ip in ips.items()}
