package dev.qcow2;

/**
 * One internal snapshot as listed in the snapshot table.
 *
 * @param id the unique id string (qemu numbers them "1", "2", ...)
 * @param name the snapshot's name (qemu-img's "tag")
 * @param vmStateSize bytes of saved VM state (0 for disk-only snapshots)
 * @param dateSeconds creation time, seconds since the epoch
 * @param dateNanos the nanoseconds part of the creation time
 * @param vmClockNanos the guest clock at creation, in nanoseconds
 * @param icount the instruction count recorded by record/replay, or -1 if none
 * @param diskSize the virtual disk size when it was taken, or -1 if not recorded (version 2)
 * @param l1TableOffset host offset of the snapshot's L1 table
 * @param l1Size entries in the snapshot's L1 table
 */
public record Snapshot(
    String id,
    String name,
    long vmStateSize,
    long dateSeconds,
    long dateNanos,
    long vmClockNanos,
    long icount,
    long diskSize,
    long l1TableOffset,
    int l1Size) {}
