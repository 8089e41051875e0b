#!/usr/bin/env bash
# Answer clone3 with EPERM instead of ENOSYS: Docker's profile with that
# one change. busybox makes no threads; a static glibc program (glibc 2.34
# and later try clone3 first for a thread) is built here with cc and runs
# inside, with busybox's ls next to it.
set -uo pipefail
cat >thread.c <<'C'
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void *run(void *arg) { return arg; }

int main(void)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, run, NULL);
	if (err != 0) {
		printf("pthread_create: %s\n", strerrorname_np(err));
		return 1;
	}
	pthread_join(t, NULL);
	printf("pthread_create: a thread ran\n");
	return 0;
}
C
cc -static -O -pthread -o "$WORKSHOP_ROOTFS/thread" thread.c
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    echo "${bin%%:*}: busybox: $("${bin#*:}" sh -c 'ls /bin/sh >/dev/null && echo ls works' 2>&1)"
    echo "${bin%%:*}: glibc: $("${bin#*:}" /thread 2>&1), exit $?"
done
