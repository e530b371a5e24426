/* SPDX-License-Identifier: MIT */
/* dirtyspec: <asm/barrier.h> (the barriers are in the kit's linux.h). */
#include <kernel-upstream.h>
