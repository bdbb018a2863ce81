#!/bin/sh
# phone-install.sh: installs this callrec package on the phone it runs on.
#
# usage: sh phone-install.sh [--board MODEL|/PATH/BOARD.json] [--prefix DIR] [--root DIR]
#                            [--no-start]
#
# install.sh (on the PC) copies the unpacked package to the phone over SSH and runs this. On a
# phone with a console but no SSH, copy the unpacked package there (a USB stick will do) and
# run it yourself.
#
#   --board    the phone model (one of share/callrec/board/*.json; the binary has the same
#              boards built in) or the absolute path of a board file on the phone. Not needed
#              to reinstall: the BOARD of the existing /etc/default/callrec is kept.
#   --prefix   where the program goes (default /opt/callrec): pick a writable partition on a
#              phone whose root file system is read-only.
#   --root     install into this directory as if it were / (a firmware image being built, a
#              test); implies --no-start and skips the check that the binary runs here.
#   --no-start install (and stop a running agent) but do not start it.
#
# What it does, each step idempotent: stops a running agent; copies the program to PREFIX
# (each file written beside and renamed, so a power cut leaves the old or the new one); puts
# the init script in /etc/init.d, `callrec` on the PATH (/usr/bin) and the configuration in
# /etc/default/callrec where those are writable (else under PREFIX, and says what to do); keeps
# an existing settings file; starts the agent and shows its status.
#
# Written for BusyBox ash (no bash).
# shellcheck shell=dash
# (BusyBox ash, like dash, has `local`.)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
board=
prefix=/opt/callrec
root=
start=1

die() {
    echo "phone-install: $*" >&2
    exit 1
}
note() { echo "phone-install: $*"; }

while [ $# -gt 0 ]; do
    case $1 in
        --board) [ $# -ge 2 ] || die "--board needs a value"; board=$2; shift 2 ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; prefix=$2; shift 2 ;;
        --root) [ $# -ge 2 ] || die "--root needs a value"; root=$2; shift 2 ;;
        --no-start) start=0; shift ;;
        -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "phone-install: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
# It ends up in /etc/default/callrec, a sh file, and in sed commands: plain path characters.
case $prefix in
    *[!A-Za-z0-9._/-]*) die "--prefix may hold only letters, digits and . _ / -" ;;
    /*) ;;
    *) die "--prefix must be an absolute path, not $prefix" ;;
esac
prefix=${prefix%/}
if [ -n "$root" ]; then
    mkdir -p "$root" && root=$(cd "$root" && pwd) || die "cannot make --root $root"
    [ "$root" = / ] && root=
    start=0
fi
[ -n "$prefix" ] || die "--prefix / is not allowed"

version=$(cat "$here/share/callrec/VERSION" 2>/dev/null || echo "callrec")
note "installing $version to $root$prefix"

# A package for another processor (armv7 vs aarch64) would install and then never start:
# refuse it here. The binary is static, so running it is the whole check.
if [ -z "$root" ] && ! "$here/bin/callrec" --help >/dev/null 2>&1; then
    die "bin/callrec does not run on this phone ($(uname -m)): this package is $version; use the package built for this phone's processor"
fi

# The existing configuration: where it is and its BOARD (read, not sourced: it is a sh file,
# but this script need not run it).
defaults_file=
for f in "$root/etc/default/callrec" "$root$prefix/etc/default/callrec"; do
    if [ -f "$f" ]; then
        defaults_file=$f
        break
    fi
done
if [ -z "$board" ] && [ -n "$defaults_file" ]; then
    board=$(sed -n 's/^BOARD=["'\'']\{0,1\}\([^"'\'' ]*\).*/\1/p' "$defaults_file" | tail -n 1)
    if [ -n "$board" ]; then note "keeping BOARD=$board from $defaults_file"; fi
fi

known_boards() {
    local f names=''
    for f in "$here"/share/callrec/board/*.json; do
        f=${f##*/}
        names="$names ${f%.json}"
    done
    echo "$names"
}

# The board: a model name must be one of the package's board files; a path must be a file
# (after this install: install.sh sends an integrator's own board file inside the package).
case $board in *[!A-Za-z0-9._/-]*) die "a board may hold only letters, digits and . _ / -, not $board" ;; esac
case $board in
    '') die "no --board given and no BOARD in /etc/default/callrec; models:$(known_boards)" ;;
    /*)
        board_file=
        case $board in
            "$prefix/share/callrec/board/"*)
                [ -f "$here/share/callrec/board/${board##*/}" ] &&
                    board_file=$here/share/callrec/board/${board##*/}
                ;;
        esac
        [ -n "$board_file" ] || board_file=$root$board
        [ -f "$board_file" ] || die "board file $board does not exist"
        ;;
    */* | *.json) die "a board file must be given by its absolute path, not $board" ;;
    *)
        # (A-Z, not [:upper:]: a BusyBox tr may be built without character classes.)
        # shellcheck disable=SC2018,SC2019
        model=$(echo "$board" | tr 'A-Z' 'a-z')
        board_file=$here/share/callrec/board/$model.json
        [ -f "$board_file" ] || die "unknown board \"$board\"; models:$(known_boards)"
        board=$model
        ;;
esac

# The settings file the agent and its settings page use, from the board file (one
# `"settings": "…"` line, as every board file has it).
settings=$(sed -n 's/^[[:space:]]*"settings"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$board_file" | head -n 1)
[ -n "$settings" ] || die "$board_file has no \"settings\": \"PATH\" line"

# Whether a directory is writable, making it if its parent is (a read-only root file system
# answers no). A real write: BusyBox's `test -w` says yes to root whatever the mount (and
# touch, not a redirection: a failed redirection of a builtin ends the script).
writable_dir() {
    mkdir -p "$1" 2>/dev/null && touch "$1/.callrec-probe" 2>/dev/null && rm -f "$1/.callrec-probe"
}

# Copies a file into place: written beside it and renamed, so a power cut (or the phone
# running the old binary) never sees half a file.
put() {
    local src="$1" dest="$2" mode="$3"
    writable_dir "$(dirname "$dest")" || die "cannot write $(dirname "$dest") (read-only file system?): choose a writable --prefix, or remount it read-write"
    cp "$src" "$dest.new" && chmod "$mode" "$dest.new" && mv -f "$dest.new" "$dest" ||
        { rm -f "$dest.new"; die "cannot write $dest"; }
}

# Stop a running agent first: the binary is replaced under it, and a start then runs the new.
if [ -z "$root" ]; then
    for init in /etc/init.d/S60callrec "$prefix/etc/init.d/S60callrec"; do
        if [ -x "$init" ]; then
            "$init" stop || true
            break
        fi
    done
fi

put "$here/bin/callrec" "$root$prefix/bin/callrec" 755
put "$here/bin/callrec-supervise" "$root$prefix/bin/callrec-supervise" 755
for f in "$here"/share/callrec/board/*.json; do
    put "$f" "$root$prefix/share/callrec/board/${f##*/}" 644
done
put "$here/etc/callrec/settings.json" "$root$prefix/share/callrec/settings.default.json" 644
put "$here/README.txt" "$root$prefix/share/callrec/README.txt" 644
put "$here/share/callrec/VERSION" "$root$prefix/share/callrec/VERSION" 644

# The init script knows the prefix (it finds the configuration there when /etc is read-only).
tmp_init=$(mktemp "${TMPDIR:-/tmp}/S60callrec.XXXXXX")
trap 'rm -f "$tmp_init"' EXIT
sed "s|^PREFIX=/opt/callrec\$|PREFIX=$prefix|" "$here/etc/init.d/S60callrec" >"$tmp_init"
put "$tmp_init" "$root$prefix/etc/init.d/S60callrec" 755
init=$prefix/etc/init.d/S60callrec
if writable_dir "$root/etc/init.d"; then
    put "$tmp_init" "$root/etc/init.d/S60callrec" 755
    init=/etc/init.d/S60callrec
else
    note "WARNING: /etc/init.d is not writable (read-only root file system?), so the agent will not start at boot by itself: have the firmware run '$init start' at boot, or remount / read-write and install again"
fi

# `callrec` on the PATH, where /usr/bin can take a link (never over a file the firmware owns).
if [ "$prefix" != /usr ]; then
    link=$root/usr/bin/callrec
    if [ -L "$link" ] || [ ! -e "$link" ]; then
        if writable_dir "$root/usr/bin" && ln -sf "$prefix/bin/callrec" "$link" 2>/dev/null; then
            :
        else
            note "/usr/bin is not writable: run callrec as $prefix/bin/callrec"
        fi
    else
        note "$link exists and is not ours: left alone; run callrec as $prefix/bin/callrec"
    fi
fi

# /etc/default/callrec: BOARD and PREFIX set, every other line kept. In /etc when writable,
# else beside the program (the init script looks in both).
if [ -z "$defaults_file" ]; then
    if writable_dir "$root/etc/default"; then
        defaults_file=$root/etc/default/callrec
    else
        defaults_file=$root$prefix/etc/default/callrec
    fi
    src=$here/etc/default/callrec
else
    src=$defaults_file
fi
tmp_defaults=$(mktemp "${TMPDIR:-/tmp}/callrec-defaults.XXXXXX")
trap 'rm -f "$tmp_init" "$tmp_defaults"' EXIT
sed -e "s|^BOARD=.*|BOARD=$board|" -e "s|^PREFIX=.*|PREFIX=$prefix|" "$src" >"$tmp_defaults"
grep -q '^BOARD=' "$tmp_defaults" || echo "BOARD=$board" >>"$tmp_defaults"
grep -q '^PREFIX=' "$tmp_defaults" || echo "PREFIX=$prefix" >>"$tmp_defaults"
put "$tmp_defaults" "$defaults_file" 644
note "configuration: $defaults_file (BOARD=$board)"

# The settings: an existing file is the user's (written by the settings page): kept.
if [ -f "$root$settings" ]; then
    note "settings: kept $settings"
elif writable_dir "$(dirname "$root$settings")" &&
    cp "$here/etc/callrec/settings.json" "$root$settings.new" &&
    mv -f "$root$settings.new" "$root$settings"; then
    note "settings: $settings (the defaults: local recording, on_demand)"
    if grep -q '"usb_host"[[:space:]]*:[[:space:]]*false' "$board_file"; then
        note "this model has no USB port, so local recording is refused: choose network or SIP INFO recording on the settings page (http://PHONE:8089/)"
    fi
else
    note "WARNING: cannot write $settings: the agent runs with the default settings, and its settings page cannot save until $(dirname "$settings") is writable"
fi

if [ "$start" = 0 ]; then
    note "installed, not started (start it with: $init start)"
    exit 0
fi

"$root$init" start
# The agent answers within a second; ten are allowed for a slow phone.
tries=0
while ! "$root$init" status >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 50 ]; then
        "$root$init" status || true
        echo "phone-install: the agent did not come up; its log:" >&2
        if command -v logread >/dev/null 2>&1; then
            logread 2>/dev/null | grep callrec | tail -n 20 >&2 || true
        else
            tail -n 20 /var/log/callrec.log >&2 2>/dev/null || true
        fi
        exit 1
    fi
    usleep 200000 2>/dev/null || sleep 1
done
"$root$init" status
