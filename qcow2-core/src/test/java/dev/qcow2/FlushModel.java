package dev.qcow2;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a guest must read after a power cut: the disk and its internal snapshots as they were at the
 * last completed flush, except where operations begun since may have changed them (their bytes may
 * hold the old content or the new, the disk may have either size, snapshots made since may or may
 * not be there, snapshots deleted since may still be). A changed byte holds its old value or one
 * that an operation since wrote there, never anything else (data must be durable before a table
 * points to it). {@link #current()} is what the guest reads while the power stays on.
 */
final class FlushModel {
  private byte[] current;

  /** The snapshots there now, and every one ever made, by name, with the disk they hold. */
  private final Map<String, byte[]> snapshots = new LinkedHashMap<>();

  private final Map<String, byte[]> made = new LinkedHashMap<>();

  private byte[] flushed;
  private Set<String> flushedSnapshots = Set.of();

  /** Guest bytes, counted from 0, that operations since the last flush may have changed. */
  private final BitSet maybe = new BitSet();

  /** A snapshot was applied since the last flush: any byte may be old or new. */
  private boolean anything;

  private final Set<Long> sizes = new HashSet<>();

  FlushModel(byte[] content) {
    this.current = content.clone();
    flushed();
  }

  byte[] current() {
    return current;
  }

  long size() {
    return current.length;
  }

  Set<String> snapshotNames() {
    return snapshots.keySet();
  }

  /** Guest ranges changed since the last flush, each with what it may now read. */
  private final List<Change> changes = new ArrayList<>();

  /**
   * The guest range [from, to) may read {@code op}'s bytes from now on, or zeros where {@code op}
   * is null.
   */
  private record Change(long from, long to, CrashWriter.Op op) {
    boolean allows(int offset, byte value) {
      return offset >= from
          && offset < to
          && value
              == (op == null
                      || op.kind() == CrashWriter.Kind.ZERO
                      || op.kind() == CrashWriter.Kind.DISCARD
                  ? 0
                  : CrashWriter.content(op.pattern(), offset));
    }
  }

  /** A write, zero write, compressed write or discard begins. */
  void changing(CrashWriter.Op op) {
    long[] range = CrashWriter.touched(op);
    if (range != null) {
      maybe.set((int) range[0], (int) range[1]);
      changes.add(new Change(range[0], range[1], op));
    }
  }

  void resized(long newSize) {
    if (newSize < current.length) {
      // What lay past the new end reads as zeros if the disk grows back.
      maybe.set((int) newSize, current.length);
      changes.add(new Change(newSize, current.length, null));
    }
    current = Arrays.copyOf(current, (int) newSize);
    sizes.add(newSize);
  }

  long snapshotSize(String name) {
    return snapshots.get(name).length;
  }

  void snapshotCreated(String name) {
    snapshots.put(name, current.clone());
    made.put(name, snapshots.get(name));
  }

  void snapshotApplied(String name) {
    current = snapshots.get(name).clone();
    anything = true;
  }

  void snapshotDeleted(String name) {
    snapshots.remove(name);
  }

  /** A flush completed: everything so far is durable. */
  void flushed() {
    flushed = current.clone();
    flushedSnapshots = Set.copyOf(snapshots.keySet());
    maybe.clear();
    changes.clear();
    anything = false;
    sizes.clear();
    sizes.add((long) current.length);
  }

  /** Fails unless {@code disk} is what the guest may read after a cut. */
  void assertDisk(byte[] disk, String what) {
    if (!sizes.contains((long) disk.length)) {
      fail(what + ": the disk has " + disk.length + " bytes; since the last flush it had " + sizes);
    }
    if (anything) {
      return;
    }
    int n = Math.min(disk.length, flushed.length);
    for (int i = 0; i < n; i++) {
      if (disk[i] != flushed[i] && maybe.get(i) && !writtenSince(i, disk[i])) {
        fail(
            what
                + ": guest offset "
                + i
                + " (0x"
                + Long.toHexString(i)
                + ") reads "
                + (disk[i] & 0xff)
                + ", neither its flushed "
                + (flushed[i] & 0xff)
                + " nor what an operation since wrote there");
      }
      if (disk[i] != flushed[i] && !maybe.get(i)) {
        int end = i;
        while (end < n && disk[end] != flushed[end] && !maybe.get(end)) {
          end++;
        }
        fail(
            what
                + ": flushed bytes lost at guest offset "
                + i
                + " (0x"
                + Long.toHexString(i)
                + ", "
                + (end - i)
                + " bytes in a row): expected "
                + (flushed[i] & 0xff)
                + ", found "
                + (disk[i] & 0xff));
      }
    }
  }

  private boolean writtenSince(int offset, byte value) {
    for (Change c : changes) {
      if (c.allows(offset, value)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Fails unless {@code found}, the snapshots read after a cut by name, holds every snapshot that
   * was there at the last flush and not deleted since, and each as it was made.
   */
  void assertSnapshots(Map<String, byte[]> found, String what) {
    for (String name : flushedSnapshots) {
      if (!found.containsKey(name) && snapshots.containsKey(name)) {
        fail(
            what
                + ": snapshot "
                + name
                + ", flushed and never deleted, is gone; found "
                + found.keySet());
      }
    }
    for (Map.Entry<String, byte[]> e : found.entrySet()) {
      byte[] expected = made.get(e.getKey());
      if (expected == null) {
        fail(what + ": snapshot " + e.getKey() + " was never made; found " + found.keySet());
      }
      // A snapshot reads with the disk's current size (qemu's rule): compare what both hold.
      int n = Math.min(expected.length, e.getValue().length);
      int m = Arrays.mismatch(expected, 0, n, e.getValue(), 0, n);
      if (m >= 0) {
        fail(
            what
                + ": snapshot "
                + e.getKey()
                + " differs from the disk it was made of at guest offset "
                + m
                + " (of "
                + expected.length
                + " and "
                + e.getValue().length
                + " bytes)");
      }
    }
  }
}
