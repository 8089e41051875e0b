# shellcheck shell=bash
#
# The logic of lab/provision.sh, as functions, so that lab/test-provision.sh
# can run it against fakes (PATH stubs for apt-get, dpkg-query, curl, cargo,
# stat, update-grub) without the internet and without touching this machine.
#
# Every place the provisioning writes to or reads from is a variable with the
# real default, which the test points into a temporary directory:
#
#   WORKSHOP_SYSROOT  prefix for /etc and /sys (default: empty, the real ones)
#   WORKSHOP_DIR      the repository inside the VM (default: /workshop)
#   WORKSHOP_USER     who builds and runs the workshop (default: vagrant)
#   WORKSHOP_HOME     that user's home (default: from the passwd database)
#   WORKSHOP_CGROUP   the cgroup mode this VM must have booted: v2 or v1
#
# Each step says what it did. A step that changes the machine calls
# `changed WHAT`; a second run of an already provisioned VM changes nothing
# and says so.

# The Debian/Ubuntu packages the workshop needs, and why.
WORKSHOP_PACKAGES=(
    build-essential  # cc: Rust links with it
    ca-certificates  # https for rustup and the rootfs download
    curl             # rustup's installer
    git
    pkg-config
    iproute2         # ip: look at step04's veth pair from the host side
    iputils-ping     # ping: the network checks
    busybox-static   # the tests' rootfs is built from it
    util-linux       # nsenter, lsns, unshare, setpriv: poke at the namespaces
    procps           # ps, pgrep: look at the container's processes
    kmod             # modprobe veth
    xz-utils
    uidmap           # newuidmap, newgidmap: step09's full uid/gid maps
    passt            # pasta: step09's rootless network
)

CHANGES=()

say() { printf 'provision: %s\n' "$*"; }
die() {
    printf 'provision: FAILED: %s\n' "$*" >&2
    exit 1
}
changed() {
    CHANGES+=("$1")
    say "changed: $1"
}

# --- cgroup mode ---------------------------------------------------------------

# cgroup_mode_of ROOT_FSTYPE UNIFIED_FSTYPE: the mode the filesystem types
# at /sys/fs/cgroup and /sys/fs/cgroup/unified (as `stat -fc %T` names them)
# mean: v2, hybrid, v1 or unknown.
cgroup_mode_of() {
    case "$1" in
    cgroup2fs) echo v2 ;;
    tmpfs)
        if [ "$2" = cgroup2fs ]; then echo hybrid; else echo v1; fi
        ;;
    *) echo unknown ;;
    esac
}

# cgroup_mode: the mode this machine booted with.
cgroup_mode() {
    local root="${WORKSHOP_SYSROOT-}/sys/fs/cgroup"
    local top unified=""
    top=$(stat -fc %T "$root" 2>/dev/null) || top=missing
    if [ -d "$root/unified" ]; then
        unified=$(stat -fc %T "$root/unified" 2>/dev/null) || unified=""
    fi
    cgroup_mode_of "$top" "$unified"
}

# check_cgroup_mode WANT: says which mode really booted; fails unless it is
# the one this machine is for (v1 accepts hybrid: systemd's "legacy" boot
# keeps a cgroup2 tree for itself, and every controller is a v1 one).
check_cgroup_mode() {
    local want="$1" got
    got=$(cgroup_mode)
    local fstype
    fstype=$(stat -fc %T "${WORKSHOP_SYSROOT-}/sys/fs/cgroup" 2>/dev/null || echo missing)
    say "this VM booted with cgroup $got (/sys/fs/cgroup is $fstype)"
    case "$want:$got" in
    v2:v2 | v1:v1 | v1:hybrid) ;;
    v1:*)
        die "this machine should have booted with cgroup v1, but booted $got; run \`vagrant reload v1 --provision\`, and see lab/README.md"
        ;;
    *)
        die "this machine should have booted with cgroup $want, but booted $got; see lab/README.md"
        ;;
    esac
}

# --- cgroup v1 boot (the optional `v1` machine) ----------------------------------

CGROUP_V1_GRUB_FILE=/etc/default/grub.d/99-contain-rs-workshop-cgroup-v1.cfg

# The kernel command line that makes systemd mount cgroup v1. systemd 256
# and later refuse v1 unless SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1 is also set
# (the kernel passes NAME=VALUE words it does not know to init as
# environment variables); older systemd ignores it.
CGROUP_V1_CMDLINE="systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"

cgroup_v1_grub_text() {
    cat <<EOF
# Written by lab/provision.sh --cgroup-v1-boot: boot with cgroup v1, for the
# workshop's step05 v1 path. Remove this file and run update-grub to undo.
GRUB_CMDLINE_LINUX="\${GRUB_CMDLINE_LINUX:+\$GRUB_CMDLINE_LINUX }$CGROUP_V1_CMDLINE"
EOF
}

# configure_cgroup_v1_boot: sets the kernel command line for cgroup v1 (the
# reboot that makes it count is Vagrant's, after this provisioner).
configure_cgroup_v1_boot() {
    local file="${WORKSHOP_SYSROOT-}$CGROUP_V1_GRUB_FILE"
    if write_if_changed "$file" "$(cgroup_v1_grub_text)"; then
        update-grub || die "update-grub failed"
        changed "kernel command line: $CGROUP_V1_CMDLINE (in $CGROUP_V1_GRUB_FILE); it counts from the next boot"
    else
        say "kernel command line for cgroup v1 already set in $CGROUP_V1_GRUB_FILE"
    fi
}

# --- files and packages -------------------------------------------------------------

# write_if_changed PATH CONTENT: writes CONTENT (plus a newline) to PATH
# unless it is there already. Succeeds when it wrote.
write_if_changed() {
    local path="$1" content="$2"
    if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
        return 1
    fi
    mkdir -p "$(dirname "$path")"
    printf '%s\n' "$content" >"$path.tmp.$$"
    chmod 0644 "$path.tmp.$$"
    mv "$path.tmp.$$" "$path"
}

# missing_packages PKG...: those of PKG that are not installed, one a line.
missing_packages() {
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
            echo "$pkg"
        fi
    done
}

# The packages for this machine: the list above, plus qemu on x86_64 for
# `cargo xtask vm-test` (it boots an x86_64 kernel).
workshop_packages() {
    printf '%s\n' "${WORKSHOP_PACKAGES[@]}"
    if [ "$(uname -m)" = x86_64 ]; then
        echo qemu-system-x86
    fi
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    if [ "${#missing[@]}" -eq 0 ]; then
        say "packages: all ${#} installed already"
        return
    fi
    say "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed"
    changed "installed ${missing[*]}"
}

# --- the workshop user's side ------------------------------------------------------------

workshop_home() {
    if [ -n "${WORKSHOP_HOME-}" ]; then
        echo "$WORKSHOP_HOME"
    else
        getent passwd "$WORKSHOP_USER" | cut -d: -f6
    fi
}

# as_user CMD...: runs CMD as the workshop user, with its home and its
# cargo on PATH, in the repository.
as_user() {
    local home
    home=$(workshop_home)
    local env=(env "HOME=$home" "PATH=$home/.cargo/bin:$PATH")
    if [ "$(id -un)" = "$WORKSHOP_USER" ]; then
        (cd "$WORKSHOP_DIR" && "${env[@]}" "$@")
    else
        (cd "$WORKSHOP_DIR" && runuser -u "$WORKSHOP_USER" -- "${env[@]}" "$@")
    fi
}

# Cargo's target directory lives in the user's home, not in the synced
# folder: VirtualBox's shared folders cannot hold root-owned files (the
# tests' rootfs) and are slow for the many small files a build writes.
target_dir() { echo "$(workshop_home)/target"; }

install_rust() {
    local home
    home=$(workshop_home)
    if [ -x "$home/.cargo/bin/cargo" ]; then
        say "rust: $("$home/.cargo/bin/cargo" --version 2>/dev/null || echo cargo) is installed already"
        return
    fi
    say "rust: installing the stable toolchain with rustup for $WORKSHOP_USER"
    # shellcheck disable=SC2016 # expanded by the user's shell
    as_user sh -c 'curl --proto "=https" --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal -c rustfmt -c clippy' ||
        die "rustup's installer failed"
    [ -x "$home/.cargo/bin/cargo" ] || die "rustup ran, but there is no $home/.cargo/bin/cargo"
    changed "installed Rust with rustup for $WORKSHOP_USER"
}

# cargo_config_text: the workshop user's ~/.cargo/config.toml. It holds
# for every shell, login or not, and for everything cargo runs ([env]), so
# the tests and the xtask (which read CARGO_TARGET_DIR) agree with cargo.
cargo_config_text() {
    cat <<EOF
# Written by lab/provision.sh: build outside the synced folder /workshop
# (see lab/README.md, "Where things are").
[build]
target-dir = "$(target_dir)"

[env]
CARGO_TARGET_DIR = "$(target_dir)"
EOF
}

install_cargo_config() {
    local file
    file="$(workshop_home)/.cargo/config.toml"
    if write_if_changed "$file" "$(cargo_config_text)"; then
        chown "$WORKSHOP_USER:" "$file"
        changed "wrote $file (target-dir $(target_dir))"
    else
        say "cargo: $file is up to date (target-dir $(target_dir))"
    fi
}

# --- chapter 9: the workshop user runs step09 without root --------------------------------

# The AppArmor profile that lets step09 and ex09 use user namespaces on
# Ubuntu 23.10+ (see lab/apparmor-contain-rs-workshop). Only where AppArmor
# is there to load it.
apparmor_profile() { echo "${WORKSHOP_SYSROOT-}/etc/apparmor.d/contain-rs-workshop"; }

install_apparmor_profile() {
    local file
    file=$(apparmor_profile)
    if [ ! -d "$(dirname "$file")" ]; then
        say "apparmor: not installed, nothing to allow (step09 needs no profile here)"
        return
    fi
    if write_if_changed "$file" "$(cat "$WORKSHOP_DIR/lab/apparmor-contain-rs-workshop")"; then
        apparmor_parser -r "$file" || die "apparmor_parser -r $file failed"
        changed "loaded the AppArmor profile $file (user namespaces for step09)"
    else
        say "apparmor: $file is up to date"
    fi
}

# A range of subordinate IDs for the workshop user, so that step09's
# container has 65536 users (newuidmap checks /etc/subuid). Ubuntu's adduser
# gives one to every user it makes; a box's user may lack it.
subordinate_ids() {
    local file="${WORKSHOP_SYSROOT-}/etc/subuid"
    if grep -q "^$WORKSHOP_USER:" "$file" 2>/dev/null; then
        say "subordinate IDs: $WORKSHOP_USER has a range in /etc/subuid already"
        return
    fi
    usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "$WORKSHOP_USER" ||
        die "usermod --add-subuids failed"
    changed "gave $WORKSHOP_USER the subordinate IDs 100000-165535"
}

# build_workspace, fetch_rootfs, run_doctor: cargo does nothing when
# nothing changed, the fetcher does nothing when the rootfs is there, and
# doctor only reads; so these run every time and still change nothing.
build_workspace() {
    say "building the workspace (cargo build --workspace)"
    as_user cargo build --workspace || die "cargo build --workspace failed"
}

fetch_rootfs() {
    say "the Alpine rootfs (cargo run -p rootfs-fetcher)"
    as_user cargo run --quiet -p rootfs-fetcher ||
        die "the rootfs fetcher failed; see lab/README.md (offline: --from-file)"
}

run_doctor() {
    say "checking the machine (cargo run -p doctor)"
    if ! as_user cargo run --quiet -p doctor; then
        die "doctor reports a problem (the ✘ lines above, each with its fix); see lab/README.md, \"When doctor complains\""
    fi
}

summary() {
    if [ "${#CHANGES[@]}" -eq 0 ]; then
        say "done: nothing changed, this VM was provisioned already"
    else
        say "done: ${#CHANGES[@]} change(s): $(printf '%s; ' "${CHANGES[@]}")"
    fi
}
