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
# The engine runs beside sshd, not as PID 1: tests stop and start it (start-dockerd) like a service on a server.
printf 'INNER_BIP=%s\nINNER_POOL=%s\n' "${INNER_BIP:-10.201.0.1/24}" "${INNER_POOL:-10.211.0.0/16}" > /etc/lab-engine.env
/usr/local/bin/start-dockerd
exec /usr/sbin/sshd -D
