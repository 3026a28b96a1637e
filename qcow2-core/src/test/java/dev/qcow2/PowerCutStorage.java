package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * A {@link Storage} on a disk that can lose power (Lucene's MockDirectoryWrapper, for one file):
 * the process sees every write at once, but only a completed {@link #force()} makes the writes
 * before it durable. {@link #afterCut} gives the bytes the disk would hold if the power went out
 * now: the durable bytes, plus, depending on the {@link Loss}, some of the writes made since the
 * last force.
 *
 * <p>An {@link Observer} is told after every write and truncation and at every force before it
 * completes, so that a test can take a cut at exactly those moments. Not meant to be fast: one
 * test, one thread.
 */
final class PowerCutStorage implements Storage {

  /** What a power cut does to the writes made since the last completed force. */
  enum Loss {
    /** All of them are lost. */
    ALL,
    /**
     * Each sector they wrote holds what it held after a random number of the writes to it (none,
     * some or all of them), each sector apart: the kernel writes pages back at any moment and in
     * any order, and a disk writes a sector whole, so a sector never holds a later write without
     * the earlier ones. Truncations are kept or lost at random.
     */
    SUBSET,
    /**
     * The disk wrote them in order and lost power in the middle of one: the writes before it
     * survive, it survives up to a 512-byte sector boundary, and the rest are lost.
     */
    TORN
  }

  /** Told of every change, and of every force before it makes anything durable. */
  interface Observer {
    void changed(PowerCutStorage storage) throws IOException;

    void forcing(PowerCutStorage storage) throws IOException;
  }

  /** A write ({@code bytes} at {@code position}) or a truncation ({@code bytes} null). */
  private record Change(long position, byte[] bytes) {
    void applyTo(MemoryStorage disk, int keep) {
      if (bytes == null) {
        disk.truncate(position);
      } else {
        disk.write(ByteBuffer.wrap(bytes, 0, keep), position);
      }
    }

    int length() {
      return bytes == null ? 0 : bytes.length;
    }
  }

  private final String name;

  /** What the process reads: every write so far. */
  private final MemoryStorage current;

  private byte[] durable;
  private final List<Change> pending = new ArrayList<>();
  private final Observer observer;
  private int forces;

  PowerCutStorage(String name, byte[] durable, Observer observer) {
    this.name = name;
    this.current = new MemoryStorage(name, durable);
    this.durable = durable.clone();
    this.observer = observer;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public synchronized long size() {
    return current.size();
  }

  @Override
  public synchronized int read(ByteBuffer dst, long position) {
    return current.read(dst, position);
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    synchronized (this) {
      byte[] bytes = new byte[src.remaining()];
      src.duplicate().get(bytes);
      current.write(src, position);
      pending.add(new Change(position, bytes));
    }
    observer.changed(this);
  }

  @Override
  public void truncate(long size) throws IOException {
    synchronized (this) {
      current.truncate(size);
      pending.add(new Change(size, null));
    }
    observer.changed(this);
  }

  /** The observer takes its cut first: everything since the last force may still be lost. */
  @Override
  public void force() throws IOException {
    observer.forcing(this);
    synchronized (this) {
      durable = replay(pending.size(), Integer.MAX_VALUE);
      pending.clear();
      forces++;
    }
  }

  /** How many forces have completed. */
  synchronized int forces() {
    return forces;
  }

  /** How many writes and truncations a cut now could lose. */
  synchronized int pending() {
    return pending.size();
  }

  /** The bytes on the disk if the power went out now, losing what {@code loss} says. */
  synchronized byte[] afterCut(Loss loss, Random random) {
    switch (loss) {
      case ALL:
        return durable.clone();
      case SUBSET:
        return sectorSubset(random);
      default:
        {
          if (pending.isEmpty()) {
            return durable.clone();
          }
          int torn = random.nextInt(pending.size());
          Change c = pending.get(torn);
          return replay(torn, tornLength(c, random));
        }
    }
  }

  /**
   * The durable bytes with the first {@code count} changes applied, then {@code keep} bytes of the
   * next.
   */
  private byte[] replay(int count, int keep) {
    MemoryStorage disk = new MemoryStorage(name, durable);
    for (int i = 0; i < count; i++) {
      pending.get(i).applyTo(disk, pending.get(i).length());
    }
    if (count < pending.size() && keep > 0) {
      pending.get(count).applyTo(disk, keep); // only writes are torn (tornLength)
    }
    return disk.toByteArray();
  }

  private byte[] sectorSubset(Random random) {
    Map<Long, Integer> writes = new HashMap<>();
    for (Change c : pending) {
      for (long s = c.position() >>> 9;
          c.bytes() != null && s <= (c.position() + c.length() - 1) >>> 9;
          s++) {
        writes.merge(s, 1, Integer::sum);
      }
    }
    Map<Long, Integer> keep = new HashMap<>();
    for (Map.Entry<Long, Integer> e : new TreeMap<>(writes).entrySet()) {
      keep.put(e.getKey(), random.nextInt(e.getValue() + 1));
    }
    MemoryStorage disk = new MemoryStorage(name, durable);
    Map<Long, Integer> seen = new HashMap<>();
    for (Change c : pending) {
      if (c.bytes() == null) {
        if (random.nextBoolean()) {
          c.applyTo(disk, 0);
        }
        continue;
      }
      for (long s = c.position() >>> 9; s <= (c.position() + c.length() - 1) >>> 9; s++) {
        if (seen.merge(s, 1, Integer::sum) <= keep.get(s)) {
          int from = (int) (Math.max(c.position(), s << 9) - c.position());
          int to = (int) (Math.min(c.position() + c.length(), (s + 1) << 9) - c.position());
          disk.write(ByteBuffer.wrap(c.bytes(), from, to - from), c.position() + from);
        }
      }
    }
    return disk.toByteArray();
  }

  /** How much of a write survives when the power goes at a sector boundary inside it. */
  private static int tornLength(Change c, Random random) {
    if (c.bytes() == null) {
      return 0; // a truncation is all or nothing; here: nothing
    }
    long firstBoundary = (c.position() + 512) & ~511L;
    long end = c.position() + c.length();
    if (firstBoundary >= end) {
      return 0; // inside one sector: the sector is written whole or not at all
    }
    long boundaries = (end - 1 - firstBoundary) / 512 + 1;
    long at =
        firstBoundary + 512 * (long) random.nextInt((int) Math.min(Integer.MAX_VALUE, boundaries));
    return (int) (at - c.position());
  }

  @Override
  public boolean isReadOnly() {
    return false;
  }

  /** Closing loses nothing and forces nothing: only {@link #force()} makes bytes durable. */
  @Override
  public void close() {}

  @Override
  public String toString() {
    return "PowerCutStorage[" + name + ", " + pending.size() + " changes since the last force]";
  }
}
