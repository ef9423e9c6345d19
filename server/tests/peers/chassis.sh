#!/bin/sh
# ipmi_sim's chassis_control program for the tests' BMC: `get power`, `set power 0|1`,
# `set reset 1`, `get boot`, `set boot pxe|default|...`. State lives in files beside this
# script's state folder ($LOANER_PEER_STATE/ipmi), so a test can read what the BMC was told.
dir=${LOANER_PEER_STATE:-$(dirname "$0")}/ipmi
mkdir -p "$dir"
echo "$*" >> "$dir/calls"
op=$1
shift
while [ $# -gt 0 ]; do
  item=$1
  shift
  if [ "$op" = get ]; then
    case $item in
      power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)" ;;
      boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)" ;;
    esac
  else
    value=$1
    shift
    case $item in
      power) echo "$value" > "$dir/power" ;;
      reset) echo 1 > "$dir/power" ;;
      boot) echo "$value" > "$dir/boot" ;;
    esac
  fi
done
