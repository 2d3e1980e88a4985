output "iot_public_ip" {
  description = "Public address of the IoT host (SSH)."
  value       = aws_instance.iot.public_ip
}

output "iot_private_ip" {
  description = "Private address of the IoT host."
  value       = aws_instance.iot.private_ip
}

output "edge_public_ip" {
  description = "Public address of the edge host (SSH)."
  value       = aws_instance.edge.public_ip
}

output "edge_private_ip" {
  description = "Private address of the edge host."
  value       = aws_instance.edge.private_ip
}

output "cloud_public_ip" {
  description = "Public address of the cloud host (SSH)."
  value       = aws_instance.cloud.public_ip
}

output "cloud_private_ip" {
  description = "Private address of the cloud host."
  value       = aws_instance.cloud.private_ip
}

output "edge_url" {
  description = "Edge URL the cameras and alarm node use (private; port open to the IoT host only)."
  value       = local.edge_url
}

output "cloud_url" {
  description = "Cloud URL the edge uses (private; port open to the edge host only)."
  value       = local.cloud_url
}

# Read by `edgewatch collect --ssh-hosts tf.json` after `terraform output -json > tf.json`: a map
# layer -> user@host (the layer names label the collected files).
output "ssh_hosts" {
  description = "SSH targets (user@public-ip) per layer, for edgewatch collect."
  value = {
    iot   = "${var.ssh_user}@${aws_instance.iot.public_ip}"
    edge  = "${var.ssh_user}@${aws_instance.edge.public_ip}"
    cloud = "${var.ssh_user}@${aws_instance.cloud.public_ip}"
  }
}

output "cloud_token" {
  description = "Bearer token of the cloud API (terraform output -raw cloud_token)."
  value       = random_password.cloud_token.result
  sensitive   = true
}
