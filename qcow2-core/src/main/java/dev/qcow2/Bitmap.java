package dev.qcow2;

/**
 * A persistent dirty bitmap as listed in the bitmap directory. Bitmaps are kept intact but not
 * otherwise used.
 *
 * @param name the bitmap's name
 * @param granularity bytes of guest disk one bit covers
 * @param inUse whether a writer had it loaded and may not have stored it (qemu's "in-use" flag)
 * @param auto whether it is enabled and tracks writes (qemu's "auto" flag)
 */
public record Bitmap(String name, long granularity, boolean inUse, boolean auto) {}
