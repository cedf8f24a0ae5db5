#!/usr/bin/env bash
# Trim the debootstrapped root and trust the host's extra CAs (package mirrors are reached through a TLS proxy).
set -euo pipefail
root=$1
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
cat > "$root/etc/apt/apt.conf.d/90lab" <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
CONF
cat > "$root/etc/dpkg/dpkg.cfg.d/90lab-nodoc" <<'CONF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CONF
chroot "$root" /bin/sh -c 2>/dev/null 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates >/dev/null && update-ca-certificates >/dev/null 2>&1 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*'
