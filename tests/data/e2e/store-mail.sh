#!/bin/bash
# store-mail.sh FROM RCPT...: msmtpd's delivery command in the VM (--command='store-mail.sh %F').
# Stores the message read on stdin as /tmp/e2e/mail/N.eml with the envelope first
# (X-Envelope-From/To lines, blank line). Builtins only but cat/mv: forks are slow under TCG.
dir=/tmp/e2e/mail
tmp=$dir/.$$.tmp
{
    echo "X-Envelope-From: $1"
    shift
    for r in "$@"; do echo "X-Envelope-To: $r"; done
    echo
    cat
} >"$tmp"
mv "$tmp" "$dir/${EPOCHREALTIME/./}-$$.eml"
