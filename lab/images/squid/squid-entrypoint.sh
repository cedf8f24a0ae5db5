#!/bin/sh
# As upstream's ubuntu/squid entrypoint: squid's log files to the container's output, then squid itself with the
# given arguments (-N: in the foreground, so it is the container's process and gets its signals).
set -e
for log in access cache; do
  tail -F "/var/log/squid/$log.log" 2>/dev/null &
done
exec /usr/sbin/squid "$@"
