#!/bin/sh
# Fails when BINARY needs a glibc symbol version newer than MAX (default 2.17): Lambda's Amazon
# Linux images have an older glibc than most build machines.
set -eu
binary="${1:?usage: check-glibc.sh BINARY [MAX_VERSION]}"
max="${2:-2.17}"
needed=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -u -V)
newest=$(printf '%s\n' $needed | tail -n 1)
if [ -z "$newest" ]; then
    echo "check-glibc: $binary needs no versioned glibc symbols"
    exit 0
fi
highest=$(printf '%s\n%s\n' "$newest" "$max" | sort -V | tail -n 1)
if [ "$highest" != "$max" ]; then
    echo "check-glibc: $binary needs GLIBC_$newest, newer than GLIBC_$max:" >&2
    objdump -T "$binary" | grep "GLIBC_$newest" >&2
    exit 1
fi
echo "check-glibc: $binary needs at most GLIBC_$newest (limit $max)"
