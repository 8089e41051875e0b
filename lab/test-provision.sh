#!/usr/bin/env bash
# Tests lab/provision.sh and lab/lib.sh without the internet and without
# touching this machine: apt-get, dpkg-query, curl, cargo, stat, update-grub,
# runuser and id are fakes on PATH that record their calls and keep their
# state in a temporary directory; WORKSHOP_SYSROOT and WORKSHOP_HOME point
# there too. The main claim: a second run changes nothing and says so.
#
#   lab/test-provision.sh       prints one line per check and
#                               "test-provision: N passed, M failed"
#
# The fakes' bodies are single-quoted on purpose: they expand when they run.
# shellcheck disable=SC2016
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
check() { # check NAME COMMAND...: one line per check
    local name="$1"
    shift
    if "$@"; then
        echo "ok - $name"
        passed=$((passed + 1))
    else
        echo "FAIL - $name"
        failed=$((failed + 1))
    fi
}
contains() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }
fails() { ! "$@"; }
count_is() { [ "$(grep -cF -- "$2" "$1" || true)" -eq "$3" ]; }

# --- The fakes --------------------------------------------------------------------
fakes="$tmp/bin"
mkdir -p "$fakes" "$tmp/dpkg"
calls="$tmp/calls"
: >"$calls"

fake() { # fake NAME BODY: a stub script on PATH
    printf '#!/usr/bin/env bash\nset -eu\nT=%q\n%s\n' "$tmp" "$2" >"$fakes/$1"
    chmod +x "$fakes/$1"
}
fake apt-get '
echo "apt-get $*" >>"$T/calls"
if [ "$1" = install ]; then
    for a in "$@"; do case "$a" in install|-*) ;; *) touch "$T/dpkg/$a" ;; esac; done
fi'
fake dpkg-query '
pkg="${!#}"
if [ -e "$T/dpkg/$pkg" ]; then printf installed; else exit 1; fi'
# rustup's installer, as curl would fetch it: "installs" cargo.
fake curl '
echo "curl $*" >>"$T/calls"
cat <<EOF
mkdir -p "\$HOME/.cargo/bin"
ln -s "$T/bin/cargo" "\$HOME/.cargo/bin/cargo"
EOF'
fake cargo '
echo "cargo $* (in $PWD, HOME=$HOME)" >>"$T/calls"
case "$*" in
--version) echo "cargo 1.99.0 (fake)" ;;
*"-p doctor"*) exit "$(cat "$T/doctor-exit" 2>/dev/null || echo 0)" ;;
esac'
fake stat '
path="${!#}"
while read -r p t; do [ "$p" = "$path" ] && { echo "$t"; exit 0; }; done <"$T/fstypes"
exit 1'
fake update-grub 'echo "update-grub $*" >>"$T/calls"'
fake apparmor_parser 'echo "apparmor_parser $*" >>"$T/calls"'
fake usermod '
echo "usermod $*" >>"$T/calls"
echo "${!#}:100000:65536" >>"$T/root/etc/subuid"'
fake runuser 'echo "runuser must not be called in the test: $*" >&2; exit 99'
# The provisioning runs as root; the test need not.
fake id '
case "$*" in -u) echo 0 ;; *) /usr/bin/id "$@" ;; esac'

export PATH="$fakes:$PATH"
export WORKSHOP_SYSROOT="$tmp/root"
export WORKSHOP_HOME="$tmp/home"
export WORKSHOP_DIR="$tmp/workshop"
WORKSHOP_USER=$(/usr/bin/id -un)
export WORKSHOP_USER
mkdir -p "$WORKSHOP_SYSROOT/sys/fs/cgroup/unified" "$WORKSHOP_HOME" "$WORKSHOP_DIR/lab" \
    "$WORKSHOP_SYSROOT/etc/apparmor.d"
cp "$here/apparmor-contain-rs-workshop" "$WORKSHOP_DIR/lab/"
touch "$WORKSHOP_SYSROOT/etc/subuid"
cg="$WORKSHOP_SYSROOT/sys/fs/cgroup"
boots() { # boots v2|hybrid|v1: what stat says about the cgroup mounts
    case "$1" in
    v2) printf '%s cgroup2fs\n' "$cg" >"$tmp/fstypes" ;;
    hybrid) printf '%s tmpfs\n%s cgroup2fs\n' "$cg" "$cg/unified" >"$tmp/fstypes" ;;
    v1) printf '%s tmpfs\n%s tmpfs\n' "$cg" "$cg/unified" >"$tmp/fstypes" ;;
    esac
}
provision() { # provision LOG [ARGS...]: runs provision.sh, output in LOG
    local log="$1"
    shift
    : >"$calls"
    "$here/provision.sh" "$@" >"$log" 2>&1
}

# --- Pure functions ------------------------------------------------------------------
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
check "cgroup2fs at /sys/fs/cgroup is v2" [ "$(cgroup_mode_of cgroup2fs '')" = v2 ]
check "tmpfs with a cgroup2 unified/ is hybrid" [ "$(cgroup_mode_of tmpfs cgroup2fs)" = hybrid ]
check "tmpfs alone is v1" [ "$(cgroup_mode_of tmpfs '')" = v1 ]
check "anything else is unknown" [ "$(cgroup_mode_of ext4 '')" = unknown ]
touch "$tmp/dpkg/git"
check "missing_packages lists only what dpkg does not have" \
    [ "$(missing_packages git curl kmod | tr '\n' ' ')" = "curl kmod " ]
grub_value() { # what GRUB_CMDLINE_LINUX becomes when grub sources the file
    (
        GRUB_CMDLINE_LINUX="$1"
        eval "$(cgroup_v1_grub_text)"
        echo "$GRUB_CMDLINE_LINUX"
    )
}
check "the grub snippet appends to an existing command line" \
    [ "$(grub_value 'quiet splash')" = "quiet splash systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1" ]
check "the grub snippet works on an empty command line" \
    [ "$(grub_value '')" = "systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1" ]
rm -f "$tmp/dpkg/git"

# --- The v2 machine: first run -----------------------------------------------------------
boots v2
touch "$tmp/dpkg/git" "$tmp/dpkg/curl" # some packages are there already
check "first run succeeds" provision "$tmp/run1"
cp "$calls" "$tmp/calls1"
check "it says which cgroup mode booted" contains "$tmp/run1" "booted with cgroup v2 (/sys/fs/cgroup is cgroup2fs)"
check "apt-get installs only the missing packages" \
    grep -qE '^apt-get install .*busybox-static' "$tmp/calls1"
reinstalls() { grep -E '^apt-get install' "$1" | grep -qwE 'git|curl'; }
check "apt-get does not reinstall what is there" fails reinstalls "$tmp/calls1"
check "rustup's installer runs once" count_is "$tmp/calls1" "curl " 1
check "cargo config points the target dir at the home" \
    contains "$WORKSHOP_HOME/.cargo/config.toml" "target-dir = \"$WORKSHOP_HOME/target\""
check "the workspace is built in the repository" \
    contains "$tmp/calls1" "cargo build --workspace (in $WORKSHOP_DIR, HOME=$WORKSHOP_HOME)"
check "the rootfs fetcher runs" contains "$tmp/calls1" "cargo run --quiet -p rootfs-fetcher"
check "doctor runs" contains "$tmp/calls1" "cargo run --quiet -p doctor"
check "the first run reports its changes" contains "$tmp/run1" "change(s):"
check "the v2 machine never touches grub" lacks "$tmp/calls1" "update-grub"
check "the AppArmor profile for step09 is installed" \
    contains "$WORKSHOP_SYSROOT/etc/apparmor.d/contain-rs-workshop" "userns,"
check "and loaded" contains "$tmp/calls1" "apparmor_parser -r $WORKSHOP_SYSROOT/etc/apparmor.d/contain-rs-workshop"
check "the user gets subordinate IDs" contains "$tmp/calls1" "usermod --add-subuids 100000-165535"

# --- The v2 machine: second run changes nothing ----------------------------------------------
snapshot() { find "$WORKSHOP_SYSROOT" "$WORKSHOP_HOME" "$tmp/dpkg" -printf '%p %s %T@\n' | sort; }
snapshot >"$tmp/state1"
check "second run succeeds" provision "$tmp/run2"
cp "$calls" "$tmp/calls2"
snapshot >"$tmp/state2"
check "second run: no apt-get at all" lacks "$tmp/calls2" "apt-get"
check "second run: no rustup" lacks "$tmp/calls2" "curl "
check "second run: the profile is not reloaded" lacks "$tmp/calls2" "apparmor_parser"
check "second run: no usermod" lacks "$tmp/calls2" "usermod"
check "second run: no file written" cmp -s "$tmp/state1" "$tmp/state2"
check "second run: says nothing changed" contains "$tmp/run2" "nothing changed, this VM was provisioned already"
check "second run: still checks with doctor" contains "$tmp/calls2" "-p doctor"

# --- Failures are loud ----------------------------------------------------------------------
echo 1 >"$tmp/doctor-exit"
check "a doctor problem fails the provisioning" fails provision "$tmp/run3"
check "and says what to do" contains "$tmp/run3" "doctor reports a problem"
rm "$tmp/doctor-exit"
boots hybrid
check "a v2 machine that booted hybrid fails" fails provision "$tmp/run4"
check "and names the mode it got" contains "$tmp/run4" "should have booted with cgroup v2, but booted hybrid"

# --- The v1 machine -------------------------------------------------------------------------------
grubfile="$WORKSHOP_SYSROOT/etc/default/grub.d/99-contain-rs-workshop-cgroup-v1.cfg"
check "--cgroup-v1-boot succeeds" provision "$tmp/v1a" --cgroup-v1-boot
check "it writes the grub snippet" contains "$grubfile" "systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"
check "and runs update-grub" count_is "$calls" "update-grub" 1
check "--cgroup-v1-boot again succeeds" provision "$tmp/v1b" --cgroup-v1-boot
check "the second time it does not run update-grub" lacks "$calls" "update-grub"
check "and says it was set already" contains "$tmp/v1b" "already set"
export WORKSHOP_CGROUP=v1
boots hybrid
check "the v1 machine accepts systemd's hybrid boot" provision "$tmp/v1c"
check "and says so" contains "$tmp/v1c" "booted with cgroup hybrid (/sys/fs/cgroup is tmpfs)"
boots v1
check "the v1 machine accepts a pure v1 boot" provision "$tmp/v1d"
boots v2
check "the v1 machine fails when it booted v2" fails provision "$tmp/v1e"
check "and tells how to fix it" contains "$tmp/v1e" "vagrant reload v1 --provision"

if [ "$failed" -gt 0 ]; then
    for log in "$tmp"/run* "$tmp"/v1*; do
        echo "--- $(basename "$log")"
        cat "$log"
    done
fi
echo "test-provision: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
