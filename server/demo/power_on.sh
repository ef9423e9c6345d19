#!/bin/sh
# Demo step: what a site's power-on script prints (an IPMI call through the machine's BMC, with
# the credentials the pool's driver settings point at).
set -eu
bmc="${SITE_BMC_HOST:-bmc.${LOANER_MACHINE_FQDN}}"
echo "ipmitool -I lanplus -H ${bmc} -E chassis power on   # credentials from ${SITE_IPMI_CREDENTIALS:-the site default}"
sleep 0.5
echo "Chassis Power Control: Up/On"
sleep 0.5
echo "${LOANER_MACHINE_FQDN}: power is on"
