#!/bin/sh
# Demo step: check the machine answers before it goes back into the pool.
set -eu
echo "ping ${LOANER_MACHINE_FQDN}: 3 packets, 0% loss"
sleep 0.5
echo "ssh banner: OpenSSH_9.2"
echo "Disk and memory checks passed"
