# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    """The options that point a backup or restore at a restic repository (module_utils/restic.py)."""

    DOCUMENTATION = r"""
options:
  repository:
    description:
      - A restic repository - an absolute path on the host, or a restic URL (C(rest:), C(s3:), C(b2:), C(azure:),
        C(gs:), C(swift:), C(sftp:) with O(ssh_identity) and O(ssh_known_hosts)); C(rclone:) is not supported, nor a
        password in the URL.
      - A backup needs it. A restore reads an archive directory of release 0.2 instead when one is named
        (the restore's C(archive)), and needs no repository then.
    type: str
    default: ''
  repository_env:
    description: The repository's own credentials (C(AWS_ACCESS_KEY_ID), C(RESTIC_REST_PASSWORD) ...), passed to
      restic like its password - through its environment, by name, never on a command line.
    type: dict
    default: {}
  ssh_identity:
    description: For an C(sftp:) repository, the private key on the host that logs in to it (mounted read-only into
      the restic container; never read by Ansible).
    type: path
    default: ''
  ssh_known_hosts:
    description: For an C(sftp:) repository, a known_hosts file on the host with the server's key; any other key
      refuses the connection.
    type: path
    default: ''
  image:
    description: The restic image, run in throw-away containers with C(--pull never) (load or pull it first).
    type: str
    default: restic/restic:0.19.1
"""
