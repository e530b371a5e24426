/* SPDX-License-Identifier: MIT */
/* dirtyspec: <linux/types.h> for io-pgtable-arm.c (kernel-upstream.h). */
#include <kernel-upstream.h>
