/* SPDX-License-Identifier: MIT */
/* dirtyspec: <linux/dma-mapping.h> for io-pgtable-arm.c (kernel-upstream.h). */
#include <kernel-upstream.h>
