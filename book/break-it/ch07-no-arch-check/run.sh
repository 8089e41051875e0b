#!/usr/bin/env bash
# Leave out the arch check: the filter compares numbers without asking which
# ABI made the call. i386's keyctl is 288, which on x86_64 is accept4, an
# allowed call: through `int $0x80` the keyring Docker's profile refuses
# answers again. A small static program (cc, which builds the workshop,
# is here) makes both calls inside the container; SIGSYS is signal 31, so
# a command the filter kills ends the runtime with 128 + 31 = 159.
set -uo pipefail
cat >keyctl.c <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	/* KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_USER_KEYRING (-4): the keyring
	 * of the caller's uid, which is host root's for the container's root. */
	long r = syscall(SYS_keyctl, 0L, -4L, 0L);
	printf("keyctl (x86_64 number 250): %s\n", r >= 0 ? "a keyring id" : strerrorname_np(errno));
	fflush(stdout);
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(288L), "b"(0L), "c"(-4L), "d"(0L)
			 : "memory", "r8", "r9", "r10", "r11");
	printf("keyctl (i386 number 288, int $0x80): %s\n", ret >= 0 ? "a keyring id" : strerrorname_np((int)-ret));
	return 0;
}
C
cc -static -O -o "$WORKSHOP_ROOTFS/keyctl" keyctl.c
"$BREAKIT_CONTROL" /keyctl 2>&1
echo "control: exit $?"
"$BREAKIT_BIN" /keyctl 2>&1
echo "patched: exit $?"
