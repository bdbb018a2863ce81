#!/usr/bin/env bash
# install.sh: installs this callrec package on a phone, from the integrator's PC, over SSH.
#
# usage: ./install.sh [--board MODEL|FILE.json] [--port N] [--prefix DIR] [--root DIR]
#                     [--no-start] [-i IDENTITY] [-o SSH_OPTION]... [--dry-run] [user@]phone
#
#   --board     the phone model (see share/callrec/board/: bx5s, gp210, …) or a board file of
#               your own on this PC, which is sent along and used from PREFIX/share/callrec/
#               board/ on the phone. Not needed to reinstall (the phone's BOARD is kept).
#   --port      the phone's SSH port (default 22)
#   --prefix    where the program goes on the phone (default /opt/callrec): a writable
#               partition on a phone whose root file system is read-only
#   --root      install into this directory on the phone as if it were / (a staging tree for a
#               firmware image, a test); nothing is started
#   --no-start  install but do not start the agent
#   -i, -o      passed to ssh (an identity file; any ssh -o option)
#   --dry-run   check the arguments and print the command that would run; connect to nothing
#
# The package goes to the phone in one SSH connection (a tar stream into `tar x`, so a phone
# that asks for a password asks once and needs no scp), into a temporary directory that is
# removed afterwards; phone-install.sh then installs it there with BusyBox's sh and prints
# `callrec ctl status`. Run it again at will: it replaces the program, keeps the settings.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
board=""
port=22
prefix=/opt/callrec
root=""
no_start=0
dry_run=0
ssh_opts=()
target=""

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}
die() {
    echo "install.sh: $*" >&2
    exit 1
}
bad_usage() {
    echo "install.sh: $*" >&2
    echo "usage: ./install.sh [--board MODEL|FILE.json] [--port N] [--prefix DIR] [--root DIR] [--no-start] [-i IDENTITY] [-o SSH_OPTION]... [--dry-run] [user@]phone" >&2
    exit 2
}
value() {
    [[ $# -ge 2 ]] || bad_usage "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --board) value "$@"; board=$2; shift 2 ;;
        --port) value "$@"; port=$2; shift 2 ;;
        --prefix) value "$@"; prefix=$2; shift 2 ;;
        --root) value "$@"; root=$2; shift 2 ;;
        --no-start) no_start=1; shift ;;
        -i) value "$@"; ssh_opts+=(-i "$2"); shift 2 ;;
        -o) value "$@"; ssh_opts+=(-o "$2"); shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) bad_usage "unknown option $1" ;;
        *)
            [[ -z $target ]] || bad_usage "one phone at a time (got $target and $1)"
            target=$1
            shift
            ;;
    esac
done
[[ -n $target ]] || bad_usage "which phone? give [user@]phone"
[[ $port =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || bad_usage "bad --port $port"
[[ $prefix == /* && $prefix =~ ^[A-Za-z0-9._/-]+$ ]] ||
    bad_usage "--prefix must be an absolute path of letters, digits and . _ / -"
[[ -z $root || ($root == /* && $root =~ ^[A-Za-z0-9._/-]+$) ]] ||
    bad_usage "--root must be an absolute path of letters, digits and . _ / -"
[[ -f $here/phone-install.sh && -x $here/bin/callrec ]] ||
    die "run me from the unpacked package (no phone-install.sh or bin/callrec beside me)"

known_boards() {
    local f
    for f in "$here"/share/callrec/board/*.json; do
        f=${f##*/}
        printf ' %s' "${f%.json}"
    done
}

# The board, checked here so a typo fails before anything touches the phone.
own_board=""
remote_board=""
if [[ -n $board ]]; then
    if [[ $board == */* || $board == *.json ]]; then
        # A board file of the integrator's: sent inside the package, used by its path there.
        [[ -f $board ]] || die "board file $board does not exist"
        name=${board##*/}
        [[ $name == *.json && $name =~ ^[A-Za-z0-9._-]+$ ]] ||
            die "a board file's name is letters, digits and . _ - ending in .json, not $name"
        grep -q '"model"' "$board" && grep -q '"settings"' "$board" ||
            die "$board does not look like a board file (no \"model\" or \"settings\"): see docs/integrators.md"
        own_board=$board
        remote_board=${prefix%/}/share/callrec/board/$name
    else
        model=$(tr '[:upper:]' '[:lower:]' <<<"$board")
        [[ $model =~ ^[a-z0-9._-]+$ && -f $here/share/callrec/board/$model.json ]] ||
            die "unknown board \"$board\"; models:$(known_boards) (or the path of a board file)"
        remote_board=$model
    fi
fi

# What runs on the phone: unpack the stream into a fresh directory, install from it, remove it
# whatever happens. Every argument single-quoted for the phone's shell.
quote() {
    printf "'%s'" "${1//\'/\'\\\'\'}"
}
args=(--prefix "$prefix")
[[ -n $remote_board ]] && args+=(--board "$remote_board")
[[ -n $root ]] && args+=(--root "$root")
((no_start)) && args+=(--no-start)
remote_args=""
for a in "${args[@]}"; do
    remote_args+=" $(quote "$a")"
done
remote="set -e; d=\$(mktemp -d /tmp/callrec-install.XXXXXX); trap 'rm -rf \"\$d\"' EXIT; tar -xf - -C \"\$d\"; sh \"\$d/phone-install.sh\"$remote_args"
# (The ${a[@]+…} form: an empty array under set -u is an error in the bash 3 of macOS.)
ssh_cmd=(ssh -p "$port" ${ssh_opts[@]+"${ssh_opts[@]}"} -- "$target" "$remote")

# The package as sent: this directory, plus the integrator's board file if there is one.
src=$here
if [[ -n $own_board ]]; then
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    cp -a "$here/." "$stage/"
    cp "$own_board" "$stage/share/callrec/board/${own_board##*/}"
    src=$stage
fi

if ((dry_run)); then
    echo "install.sh: would run:"
    printf '  tar -C %q -cf - .' "$src"
    printf ' |'
    printf ' %q' "${ssh_cmd[@]}"
    printf '\n'
    echo "install.sh: and on the phone: $remote"
    exit 0
fi

echo "install.sh: installing $(cat "$here/share/callrec/VERSION") on $target (port $port)"
# Plain tar, no gzip: BusyBox tar may lack -z, and 1.5 MB is nothing on a LAN.
# (COPYFILE_DISABLE: macOS's tar would add ._ files.)
COPYFILE_DISABLE=1 tar -C "$src" -cf - . | "${ssh_cmd[@]}"
