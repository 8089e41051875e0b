#!/usr/bin/env bash
# The lab's checks, for CI (nothing here boots a VM):
#
#   1. shellcheck on every shell script in the repository;
#   2. `vagrant validate` of the Vagrantfile for both providers: libvirt
#      through the vagrant-libvirt plugin (Debian's package), VirtualBox
#      through a stand-in VBoxManage that only answers --version
#      (VirtualBox is not in Debian; Vagrant asks it for its version only,
#      and then checks every `vb.` setting against the real provider);
#      also that a bad WORKSHOP_MEMORY is refused;
#   3. lab/test-provision.sh: the provisioning's logic, run twice on fakes.
#
# It installs nothing; a missing tool is one line naming its package.
# Closing line: "lab-check: N passed, M failed".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

need() { # need PROGRAM PACKAGE
    command -v "$1" >/dev/null 2>&1 ||
        {
            echo "lab/check.sh needs $1; install it with: apt-get install $2" >&2
            exit 1
        }
}
need shellcheck shellcheck
need vagrant vagrant
if ! vagrant plugin list 2>/dev/null | grep -q '^vagrant-libvirt '; then
    echo "lab/check.sh needs the vagrant-libvirt plugin; install it with: apt-get install vagrant-libvirt" >&2
    exit 1
fi

passed=0
failed=0
step() { # step NAME COMMAND...: runs it, its output in $tmp/out
    local name="$1"
    shift
    if "$@" >"$tmp/out" 2>&1; then
        echo "ok - $name"
        passed=$((passed + 1))
    else
        echo "FAIL - $name"
        sed 's/^/    /' "$tmp/out"
        failed=$((failed + 1))
    fi
}
fails() { ! "$@"; }

# 1. Every shell script: by extension, and the extension-less ones by shebang.
mapfile -t scripts < <(
    git ls-files --cached --others --exclude-standard |
        while read -r f; do
            [ -f "$f" ] || continue
            case "${f##*/}" in
            *.sh) echo "$f" ;;
            *.*) ;;
            *) head -c 64 "$f" | grep -qE '^#!(/usr/bin/env |/bin/)(ba|da)?sh' && echo "$f" ;;
            esac
        done
)
step "shellcheck: ${scripts[*]}" shellcheck -x "${scripts[@]}"

# 2. The Vagrantfile. Vagrant keeps its per-project state in .vagrant/;
# put it in the temp dir.
export VAGRANT_DOTFILE_PATH="$tmp/dot-vagrant"
export VAGRANT_CHECKPOINT_DISABLE=1
mkdir -p "$tmp/vbox"
# 7.0 is the newest VirtualBox that Debian's Vagrant (2.3) knows.
cat >"$tmp/vbox/VBoxManage" <<'EOF'
#!/bin/sh
[ "$1" = --version ] && echo 7.0.20r163906 && exit 0
exit 1
EOF
chmod +x "$tmp/vbox/VBoxManage"
step "vagrant validate (libvirt)" env VAGRANT_DEFAULT_PROVIDER=libvirt vagrant validate
step "vagrant validate (virtualbox)" env PATH="$tmp/vbox:$PATH" VAGRANT_DEFAULT_PROVIDER=virtualbox vagrant validate
step "vagrant validate with WORKSHOP_CPUS=4 WORKSHOP_MEMORY=4096" \
    env WORKSHOP_CPUS=4 WORKSHOP_MEMORY=4096 VAGRANT_DEFAULT_PROVIDER=libvirt vagrant validate
step "a WORKSHOP_MEMORY that is not a number is refused" \
    fails env WORKSHOP_MEMORY=lots VAGRANT_DEFAULT_PROVIDER=libvirt vagrant validate

# 3. The provisioning.
step "lab/test-provision.sh" bash lab/test-provision.sh

echo "lab-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
