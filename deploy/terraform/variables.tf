variable "region" {
  description = "AWS region (Learner Lab accounts: us-east-1)."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "edgewatch"
}

variable "iot_instance_type" {
  description = "Instance type of the IoT host (2 cameras + 1 alarm node)."
  type        = string
  default     = "t3.micro"
}

variable "edge_instance_type" {
  description = "Instance type of the edge host (person detection: needs the CPU and memory)."
  type        = string
  default     = "t3.medium"
}

variable "cloud_instance_type" {
  description = "Instance type of the cloud host (face recognition)."
  type        = string
  default     = "t3.micro"
}

variable "root_volume_size" {
  description = "Root volume size (GiB) of every host: Docker images are built on the host."
  type        = number
  default     = 20
}

variable "key_name" {
  description = "Name of an existing EC2 key pair for SSH (Learner Lab: vockey)."
  type        = string
}

variable "ssh_cidr" {
  description = "CIDR allowed to SSH into the hosts, e.g. your address as 203.0.113.7/32."
  type        = string

  validation {
    condition     = can(cidrhost(var.ssh_cidr, 0))
    error_message = "ssh_cidr must be a CIDR block such as 203.0.113.7/32."
  }
}

variable "ssh_user" {
  description = "Login user of the AMI (Ubuntu: ubuntu); used in the ssh_hosts output."
  type        = string
  default     = "ubuntu"
}

variable "iam_instance_profile" {
  description = "Instance profile of the cloud host, giving it Rekognition access (Learner Lab: LabInstanceProfile). Empty: none."
  type        = string
  default     = "LabInstanceProfile"
}

variable "git_url" {
  description = "Git URL the hosts clone edgewatch from."
  type        = string
}

variable "git_ref" {
  description = "Branch, tag or commit to deploy."
  type        = string
  default     = "main"
}

variable "site_id" {
  description = "Site id of the IoT host's cameras and alarm, served by the edge."
  type        = string
  default     = "site1"
}

variable "cloud_backend" {
  description = "Face-recognition backend of the cloud: local (offline model) or rekognition (instance profile)."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "rekognition"], var.cloud_backend)
    error_message = "cloud_backend must be local or rekognition."
  }
}

variable "camera_sources" {
  description = "Source of each camera on the IoT host: a path under /media (the host's /opt/edgewatch/media) or an rtsp:// URL."
  type        = list(string)
  default     = ["/media", "/media"]

  validation {
    condition     = length(var.camera_sources) == 2
    error_message = "camera_sources needs one source per camera (2)."
  }
}

variable "camera_fps" {
  description = "Frames per second each camera sends."
  type        = number
  default     = 2
}
