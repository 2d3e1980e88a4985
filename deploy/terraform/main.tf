# Three EC2 hosts, one per layer (IoT, edge, cloud), each running its layer's compose file. Peers find
# each other by private address, written into each host's deploy/compose/.env by its user data.

locals {
  edge_port  = 8000
  cloud_port = 8080

  edge_url  = "http://${aws_instance.edge.private_ip}:${local.edge_port}"
  cloud_url = "http://${aws_instance.cloud.private_ip}:${local.cloud_port}"

  host_log_dir = "/opt/edgewatch/logs"
}

data "aws_vpc" "default" {
  default = true
}

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

# Bearer token between the edge and the cloud: generated here, written into both hosts' .env only.
resource "random_password" "cloud_token" {
  length  = 40
  special = false
}

# One credential per IoT node (issue 9): the tokens go into the IoT host's .env only, their SHA-256
# digests into the edge host's .env (the edge keeps digests, never tokens). 43 alphanumerics = 256 bits.
locals {
  node_roles  = { cam1 = "camera", cam2 = "camera", alarm1 = "alarm" }
  node_tokens = { for id, token in random_password.node_token : id => token.result }
  node_digests = join(",", [
    for id, role in local.node_roles : "${role}:${var.site_id}:${id}:${sha256(local.node_tokens[id])}"
  ])
}

resource "random_password" "node_token" {
  for_each = local.node_roles
  length   = 43
  special  = false
}

# ------------------------------------------------------------------------------------ security groups

resource "aws_security_group" "iot" {
  name        = "${var.name_prefix}-iot"
  description = "edgewatch IoT host: SSH only"
  vpc_id      = data.aws_vpc.default.id
}

resource "aws_security_group" "edge" {
  name        = "${var.name_prefix}-edge"
  description = "edgewatch edge host: Socket.IO from the IoT host, SSH"
  vpc_id      = data.aws_vpc.default.id
}

resource "aws_security_group" "cloud" {
  name        = "${var.name_prefix}-cloud"
  description = "edgewatch cloud host: REST from the edge host, SSH"
  vpc_id      = data.aws_vpc.default.id
}

resource "aws_vpc_security_group_ingress_rule" "iot_ssh" {
  security_group_id = aws_security_group.iot.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.ssh_cidr
}

resource "aws_vpc_security_group_ingress_rule" "edge_ssh" {
  security_group_id = aws_security_group.edge.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.ssh_cidr
}

resource "aws_vpc_security_group_ingress_rule" "edge_from_iot" {
  security_group_id            = aws_security_group.edge.id
  description                  = "cameras and alarm nodes to the edge (Socket.IO)"
  ip_protocol                  = "tcp"
  from_port                    = local.edge_port
  to_port                      = local.edge_port
  referenced_security_group_id = aws_security_group.iot.id
}

resource "aws_vpc_security_group_ingress_rule" "cloud_ssh" {
  security_group_id = aws_security_group.cloud.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.ssh_cidr
}

resource "aws_vpc_security_group_ingress_rule" "cloud_from_edge" {
  security_group_id            = aws_security_group.cloud.id
  description                  = "edge to the cloud (POST /v1/identify)"
  ip_protocol                  = "tcp"
  from_port                    = local.cloud_port
  to_port                      = local.cloud_port
  referenced_security_group_id = aws_security_group.edge.id
}

# Outbound: packages, git and PyPI at boot; the edge and cloud ports of the peers; Rekognition (HTTPS).
resource "aws_vpc_security_group_egress_rule" "all" {
  for_each = {
    iot   = aws_security_group.iot.id
    edge  = aws_security_group.edge.id
    cloud = aws_security_group.cloud.id
  }

  security_group_id = each.value
  description       = "all outbound"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# ------------------------------------------------------------------------------------------- instances

resource "aws_instance" "cloud" {
  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.cloud_instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.cloud.id]
  # Rekognition credentials come from this profile's role via the instance metadata service.
  iam_instance_profile = var.iam_instance_profile != "" ? var.iam_instance_profile : null

  metadata_options {
    http_tokens = "required"
    # 2 hops: the request from inside a container crosses the Docker bridge.
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_size = var.root_volume_size
    volume_type = "gp3"
  }

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    layer        = "cloud"
    git_url      = var.git_url
    git_ref      = var.git_ref
    host_log_dir = local.host_log_dir
    dotenv = join("\n", [
      "EDGEWATCH_CLOUD_TOKEN=${random_password.cloud_token.result}",
      "EDGEWATCH_BACKEND=${var.cloud_backend}",
      "EDGEWATCH_AWS_REGION=${var.region}",
      "EDGEWATCH_CLOUD_PORT=${local.cloud_port}",
      "EDGEWATCH_HOST_LOG_DIR=${local.host_log_dir}",
    ])
  })
  user_data_replace_on_change = true

  tags = {
    Name  = "${var.name_prefix}-cloud"
    Layer = "cloud"
  }
}

resource "aws_instance" "edge" {
  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.edge_instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.edge.id]

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_size = var.root_volume_size
    volume_type = "gp3"
  }

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    layer        = "edge"
    git_url      = var.git_url
    git_ref      = var.git_ref
    host_log_dir = local.host_log_dir
    dotenv = join("\n", [
      "EDGEWATCH_CLOUD_URL=${local.cloud_url}",
      "EDGEWATCH_CLOUD_TOKEN=${random_password.cloud_token.result}",
      "EDGEWATCH_SITES=${var.site_id}",
      "EDGEWATCH_NODE_DIGESTS=${local.node_digests}",
      "EDGEWATCH_EDGE_PORT=${local.edge_port}",
      "EDGEWATCH_HOST_LOG_DIR=${local.host_log_dir}",
    ])
  })
  user_data_replace_on_change = true

  tags = {
    Name  = "${var.name_prefix}-edge"
    Layer = "edge"
  }
}

resource "aws_instance" "iot" {
  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.iot_instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.iot.id]

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_size = var.root_volume_size
    volume_type = "gp3"
  }

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    layer        = "iot"
    git_url      = var.git_url
    git_ref      = var.git_ref
    host_log_dir = local.host_log_dir
    dotenv = join("\n", [
      "EDGEWATCH_EDGE_URL=${local.edge_url}",
      "EDGEWATCH_SITE_ID=${var.site_id}",
      "EDGEWATCH_MEDIA=/opt/edgewatch/media",
      "EDGEWATCH_CAM1_SOURCE=${var.camera_sources[0]}",
      "EDGEWATCH_CAM2_SOURCE=${var.camera_sources[1]}",
      "EDGEWATCH_FPS=${var.camera_fps}",
      "EDGEWATCH_CAM1_TOKEN=${local.node_tokens.cam1}",
      "EDGEWATCH_CAM2_TOKEN=${local.node_tokens.cam2}",
      "EDGEWATCH_ALARM_TOKEN=${local.node_tokens.alarm1}",
      "EDGEWATCH_HOST_LOG_DIR=${local.host_log_dir}",
    ])
  })
  user_data_replace_on_change = true

  tags = {
    Name  = "${var.name_prefix}-iot"
    Layer = "iot"
  }
}
