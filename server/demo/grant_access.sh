#!/bin/sh
# Demo step: create the login user and install the borrower's SSH public key.
set -eu
echo "Creating user ${LOANER_LOGIN_USER} on ${LOANER_MACHINE_FQDN}"
sleep 0.5
echo "Installing the SSH key of ${LOANER_BORROWER_EMAIL:-the borrower} for loan ${LOANER_LOAN_ID:-?}"
echo "  $(printf '%s' "${LOANER_SSH_PUBLIC_KEY:-}" | cut -d' ' -f1,3)"
sleep 0.5
echo "sshd reloaded; access granted"
