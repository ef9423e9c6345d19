#!/bin/sh
# The forced command of the tests' ssh power key (command="…" in authorized_keys), standing in
# for a machine: `status` prints the boot id while the machine is up, `reboot` gives it a new
# boot id, `poweroff` takes it down (status then fails). Anything else is refused.
dir=${LOANER_PEER_STATE:-$(dirname "$0")}/ssh
mkdir -p "$dir"
[ -f "$dir/boot_id" ] || cat /proc/sys/kernel/random/uuid > "$dir/boot_id"
echo "$SSH_ORIGINAL_COMMAND" >> "$dir/calls"
case "$SSH_ORIGINAL_COMMAND" in
  status)
    if [ -f "$dir/down" ]; then echo "the machine is off" >&2; exit 1; fi
    echo "up $(cat "$dir/boot_id")"
    ;;
  reboot)
    cat /proc/sys/kernel/random/uuid > "$dir/boot_id"
    echo "rebooting"
    ;;
  poweroff)
    touch "$dir/down"
    echo "powering off"
    ;;
  *)
    echo "refused: $SSH_ORIGINAL_COMMAND" >&2
    exit 1
    ;;
esac
