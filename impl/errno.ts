// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h). Operations return
// them negated, as the kernel does: 0 on success, -EINVAL on bad input.
export const EPERM = 1;
export const ENOENT = 2;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const EOVERFLOW = 75;
