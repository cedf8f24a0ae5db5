#!/bin/sh
# Make cgroups and /proc/sys writable for the inner engine, install the controller's key, start sshd, run dockerd.
# Environment: AUTHORIZED_KEY (public key), INNER_BIP (e.g. 10.201.1.1/24), INNER_POOL (e.g. 10.211.0.0/16).
set -e
# A bind remount changes only this mount's flag (a plain remount is "busy": the superblock is shared).
mount -o remount,bind,rw /proc/sys 2>/dev/null || true
for d in /sys/fs/cgroup /sys/fs/cgroup/*; do
  if [ -d "$d" ] && ! [ -L "$d" ]; then mount -o remount,bind,rw "$d" 2>/dev/null || true; fi
done
if [ -n "$AUTHORIZED_KEY" ]; then
  printf '%s\n' "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
fi
ssh-keygen -A >/dev/null 2>&1
/usr/sbin/sshd
exec dockerd --host unix:///var/run/docker.sock --storage-driver overlay2 \
  --bip "${INNER_BIP:-10.201.0.1/24}" --default-address-pool "base=${INNER_POOL:-10.211.0.0/16},size=24" \
  --log-level warn
