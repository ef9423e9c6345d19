#!/bin/sh
# snmpd `pass` program emulating an APC PDU's outlet control column (sPDUOutletCtl,
# .1.3.6.1.4.1.318.1.1.4.4.2.1.3.N): reads give 1 (on) or 2 (off); writes take 1 on, 2 off,
# 3 reboot (which ends on). Every write is logged per outlet for the tests to read.
base=.1.3.6.1.4.1.318.1.1.4.4.2.1.3
dir=${LOANER_PEER_STATE:-$(dirname "$0")}/pdu
mkdir -p "$dir"
op=$1
oid=$2
n=${oid#"$base".}
case $n in '' | *[!0-9]*) exit 0 ;; esac
case $op in
  -g)
    echo "$oid"
    echo integer
    cat "$dir/$n" 2>/dev/null || echo 1
    ;;
  -s)
    case $4 in
      1 | 2) echo "$4" > "$dir/$n"; echo "$4" >> "$dir/$n.log" ;;
      3) echo 3 >> "$dir/$n.log"; echo 1 > "$dir/$n" ;;
      *) echo wrong-value ;;
    esac
    ;;
esac
