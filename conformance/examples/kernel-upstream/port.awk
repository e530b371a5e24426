# Makes the dirtyspec build of Linux drivers/iommu/io-pgtable-arm.c from the upstream file
# (awk -f port.awk [-v enoent=1] io-pgtable-arm.c > build/.../io-pgtable-arm.c). Every
# change, and nothing else:
#  1. `typedef u64 arm_lpae_iopte;` becomes `typedef dirtyspec_word arm_lpae_iopte;`, the
#     descriptor type whose every access reaches the kit (conformance/lib/linux.h).
#  2. The file stops before arm_64_lpae_alloc_pgtable_s2: the stage-2, 32-bit and Mali
#     allocators and the io_pgtable_init_fns tables, which an SMMUv3 stage-1 domain never
#     reaches (io-pgtable-upstream.c calls arm_64_lpae_alloc_pgtable_s1 itself).
#  3. With -v enoent=1 only (the historical build, Makefile "historical"): the `return 0;`
#     after the WARN_ON of an empty entry at the top of __arm_lpae_unmap is
#     `return -ENOENT;`, as Linux v6.16..v6.18 had it.
# It fails (exit 1) if the file does not have exactly one typedef to change, the
# stage-2 allocator to stop at, and (enoent) one line to change.
BEGIN { typedefs = 0; stopped = 0; enoents = 0; held = "" }
function out(line) {
	if (held != "") { print held; held = "" }
	print line
}
stopped { next }
/^static struct io_pgtable \*$/ { if (held != "") print held; held = $0; next }
/^arm_64_lpae_alloc_pgtable_s2\(/ && held != "" { held = ""; stopped = 1; next }
/^typedef u64 arm_lpae_iopte;$/ {
	out("typedef dirtyspec_word arm_lpae_iopte; /* dirtyspec (port.awk): was `typedef u64 arm_lpae_iopte;` */")
	typedefs++
	next
}
enoent && /WARN_ON\(!\(data->iop\.cfg\.quirks & IO_PGTABLE_QUIRK_NO_WARN\)\);/ { out($0); warned = NR; next }
enoent && warned == NR - 1 && /^\t\treturn 0;$/ {
	out("\t\treturn -ENOENT; /* dirtyspec (port.awk -v enoent=1): Linux v6.16..v6.18 */")
	enoents++
	next
}
{ out($0) }
END {
	if (held != "") print held
	if (typedefs != 1) { print "port.awk: expected one `typedef u64 arm_lpae_iopte;`, found " typedefs > "/dev/stderr"; exit 1 }
	if (!stopped) { print "port.awk: arm_64_lpae_alloc_pgtable_s2 not found" > "/dev/stderr"; exit 1 }
	if (enoent && enoents != 1) { print "port.awk: expected one `return 0;` to make -ENOENT, found " enoents > "/dev/stderr"; exit 1 }
}
