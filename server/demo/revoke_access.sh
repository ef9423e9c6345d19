#!/bin/sh
# Demo step: remove the borrower's key and end their sessions.
set -eu
echo "Removing the borrower's key from ~${LOANER_LOGIN_USER}/.ssh/authorized_keys on ${LOANER_MACHINE_FQDN}"
sleep 0.5
echo "Ending open sessions of ${LOANER_LOGIN_USER}"
sleep 0.5
echo "Access revoked"
