package dev.qcow2;

/**
 * A persistent dirty bitmap as listed in the bitmap directory. What it marks: {@link
 * DirtyBitmaps#dirtyExtents(String)}.
 *
 * @param name the bitmap's name
 * @param granularity bytes of guest disk one bit covers
 * @param inUse whether a writer had it loaded and may not have stored it (qemu's "in-use" flag)
 * @param auto whether it is enabled and tracks writes (qemu's "auto" flag)
 */
public record Bitmap(String name, long granularity, boolean inUse, boolean auto) {}
