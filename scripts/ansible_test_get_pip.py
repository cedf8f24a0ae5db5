"""Stand-in for ansible-test's pip bootstrap script, whose download host is not reachable from here.

ansible-test runs this file in an empty virtual environment with get-pip's arguments: pip options, packages
(pip==X), and --no-setuptools / --no-wheel. It installs pip from the wheel bundled with Python (ensurepip), then
installs the requested packages from the package index with that pip.
"""
import ensurepip
import os
import ssl
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# ansible-test hides pip's config files (PIP_CONFIG_FILE=/dev/null); the bundled pip trusts only certifi, so point
# it at the system's CA bundle. pip 24.2 and later use the system trust store by themselves.
for bundle in (ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
    if bundle and os.path.exists(bundle):
        args = ["--cert", bundle, *args]
        break
ensurepip.bootstrap(upgrade=True)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", *args]))
