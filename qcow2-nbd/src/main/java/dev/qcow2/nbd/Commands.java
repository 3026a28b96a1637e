package dev.qcow2.nbd;

import dev.qcow2.BlockStatus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Serves transmission requests on one connection's session: which requests are refused before any
 * work (with the errors the spec names), and the reply buffers of those that run. Stateless apart
 * from the session, so worker threads call it concurrently.
 */
final class Commands {
  /**
   * Holes shorter than this inside a read are sent as data: a chunk header costs more than they
   * save.
   */
  private static final int MIN_HOLE = 4096;

  /** Reads up to this long may be served by the connection's reading thread itself. */
  static final int QUICK_READ = 64 << 10;

  private final Export export;
  private final boolean structured;
  private final List<MetaContext> contexts;
  private final BufferPool buffers;

  Commands(Export export, Handshake.Session session, BufferPool buffers) {
    this.export = export;
    this.buffers = buffers;
    this.structured = session.structuredReplies();
    this.contexts = session.contexts();
  }

  /** The flags each command may carry; a request with any other is refused with EINVAL. */
  private int allowedFlags(int type) {
    return switch (type) {
      case Nbd.CMD_READ -> structured ? Nbd.CMD_FLAG_DF : 0;
      case Nbd.CMD_WRITE, Nbd.CMD_TRIM -> Nbd.CMD_FLAG_FUA;
      case Nbd.CMD_WRITE_ZEROES -> Nbd.CMD_FLAG_FUA | Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO;
      case Nbd.CMD_BLOCK_STATUS -> Nbd.CMD_FLAG_REQ_ONE;
      default -> 0;
    };
  }

  /**
   * The error {@code r} gets without being run, or 0 if it may run. A write's payload has been read
   * (or refused) by then, so that the connection stays in step.
   */
  int refusal(Request r) {
    int type = r.type();
    if (type > Nbd.CMD_BLOCK_STATUS
        || type == Nbd.CMD_DISC
        || (r.flags() & ~allowedFlags(type)) != 0) {
      return Nbd.EINVAL;
    }
    boolean inside = r.inside(export.size());
    boolean write = type == Nbd.CMD_WRITE || type == Nbd.CMD_WRITE_ZEROES || type == Nbd.CMD_TRIM;
    if (write && export.readOnly()) {
      return Nbd.EPERM;
    }
    return switch (type) {
      case Nbd.CMD_READ -> r.length() > Nbd.MAX_PAYLOAD ? Nbd.EOVERFLOW : inside ? 0 : Nbd.EINVAL;
      case Nbd.CMD_WRITE -> r.length() > Nbd.MAX_PAYLOAD ? Nbd.EINVAL : inside ? 0 : Nbd.ENOSPC;
      case Nbd.CMD_WRITE_ZEROES ->
          !inside
              ? Nbd.ENOSPC
              : r.has(Nbd.CMD_FLAG_FAST_ZERO) && !export.fastZero(r.has(Nbd.CMD_FLAG_NO_HOLE))
                  ? Nbd.ENOTSUP
                  : 0;
      case Nbd.CMD_BLOCK_STATUS ->
          contexts.isEmpty() || r.length() == 0 || !inside ? Nbd.EINVAL : 0;
      case Nbd.CMD_FLUSH -> 0;
      default -> inside ? 0 : Nbd.EINVAL; // TRIM, CACHE
    };
  }

  /**
   * The reply to a request that cannot be served: an error chunk for a structured read, else
   * simple.
   */
  Reply error(Request r, int error, String message) {
    if (structured && r.type() == Nbd.CMD_READ) {
      return Reply.of(Replies.error(r.cookie(), error, message));
    }
    return Reply.of(Replies.simple(r.cookie(), error));
  }

  /**
   * Runs a request that {@link #refusal} let through and returns its reply. A write's payload goes
   * back to the pool here.
   */
  Reply run(Request r) {
    return serve(r, false);
  }

  /**
   * The reply to a request that {@link #refusal} let through if it is a read cheap enough for the
   * connection's reading thread: at most {@link #QUICK_READ} bytes, none of them compressed (whose
   * decompression is a worker's job). Otherwise null: nothing was done, {@link #run} serves it.
   */
  Reply quick(Request r) {
    if (r.type() != Nbd.CMD_READ || r.length() > QUICK_READ) {
      return null;
    }
    return serve(r, true);
  }

  /** Runs {@code r}; if {@code quick}, a read of compressed clusters is left undone (null). */
  private Reply serve(Request r, boolean quick) {
    try {
      return switch (r.type()) {
        case Nbd.CMD_READ -> read(r, quick);
        case Nbd.CMD_BLOCK_STATUS -> Reply.of(blockStatus(r));
        default -> {
          change(r);
          yield Reply.of(Replies.simple(r.cookie(), 0));
        }
      };
    } catch (IOException e) {
      return error(r, Nbd.EIO, String.valueOf(e.getMessage()));
    } catch (IllegalArgumentException e) {
      return error(r, Nbd.EINVAL, String.valueOf(e.getMessage()));
    } catch (IllegalStateException e) {
      // The image was closed under the request: the server is shutting down.
      return error(r, Nbd.ESHUTDOWN, String.valueOf(e.getMessage()));
    } catch (RuntimeException e) {
      return error(r, Nbd.EIO, e.toString());
    } finally {
      buffers.give(r.payload());
    }
  }

  private void change(Request r) throws IOException {
    boolean fua = r.has(Nbd.CMD_FLAG_FUA);
    switch (r.type()) {
      case Nbd.CMD_WRITE -> export.write(r.payload(), r.offset(), fua);
      case Nbd.CMD_WRITE_ZEROES ->
          export.writeZeroes(r.offset(), r.length(), r.has(Nbd.CMD_FLAG_NO_HOLE), fua);
      case Nbd.CMD_TRIM -> export.trim(r.offset(), r.length(), fua);
      case Nbd.CMD_FLUSH -> export.flush();
      default -> {} // CACHE: the image reads on demand; there is nothing to warm.
    }
  }

  /** The read's reply; null if {@code quick} and some of its bytes are compressed. */
  private Reply read(Request r, boolean quick) throws IOException {
    List<long[]> runs = null;
    if (structured && r.length() > 0 && !r.has(Nbd.CMD_FLAG_DF)) {
      runs = runs(r.offset(), (int) r.length());
      if (quick && compressed(runs)) {
        return null;
      }
    } else if (quick && !plain(r.offset(), r.length())) {
      return null;
    }
    ByteBuffer data = buffers.take((int) r.length());
    try {
      return new Reply(read(r, data, runs), data);
    } catch (IOException | RuntimeException e) {
      buffers.give(data);
      throw e;
    }
  }

  /** Whether no byte of [offset, offset + length) is stored compressed. */
  private boolean plain(long offset, long length) throws IOException {
    for (long pos = offset, end = offset + length; pos < end; ) {
      BlockStatus st = export.status(pos, end - pos);
      if (st.compressed()) {
        return false;
      }
      pos += st.length();
    }
    return true;
  }

  private static boolean compressed(List<long[]> runs) {
    for (long[] run : runs) {
      if (run[3] != 0) {
        return true;
      }
    }
    return false;
  }

  /** The reply's buffers; {@code runs} are those of a structured read without DF, else null. */
  private ByteBuffer[] read(Request r, ByteBuffer data, List<long[]> runs) throws IOException {
    int length = (int) r.length();
    long cookie = r.cookie();
    if (!structured) {
      export.read(data, r.offset());
      return new ByteBuffer[] {Replies.simple(cookie, 0), data.flip()};
    }
    if (length == 0) {
      return new ByteBuffer[] {Replies.none(cookie)};
    }
    if (r.has(Nbd.CMD_FLAG_DF)) {
      export.read(data, r.offset());
      return new ByteBuffer[] {Replies.offsetData(cookie, true, r.offset(), length), data.flip()};
    }
    List<ByteBuffer> out = new ArrayList<>(2 * runs.size());
    for (int i = 0; i < runs.size(); i++) {
      long[] run = runs.get(i);
      long at = run[0];
      int n = (int) run[1];
      boolean done = i == runs.size() - 1;
      if (run[2] != 0) {
        out.add(Replies.offsetHole(cookie, done, at, n));
      } else {
        int from = (int) (at - r.offset());
        export.read(data.duplicate().limit(from + n).position(from), at);
        out.add(Replies.offsetData(cookie, done, at, n));
        out.add(data.duplicate().limit(from + n).position(from));
      }
    }
    return out.toArray(new ByteBuffer[0]);
  }

  /**
   * The read's range as (offset, length, hole, compressed) runs: neighbours of one kind merged, and
   * holes shorter than {@link #MIN_HOLE} folded into the data around them; compressed is 1 if some
   * of a run's bytes are stored compressed.
   */
  private List<long[]> runs(long offset, int length) throws IOException {
    List<long[]> runs = new ArrayList<>();
    long end = offset + length;
    for (long pos = offset; pos < end; ) {
      BlockStatus st = export.status(pos, end - pos);
      long hole = st.zero() && st.length() >= MIN_HOLE ? 1 : 0;
      long compressed = st.compressed() ? 1 : 0;
      long[] last = runs.isEmpty() ? null : runs.get(runs.size() - 1);
      if (last != null && last[2] == hole) {
        last[1] += st.length();
        last[3] |= compressed;
      } else {
        runs.add(new long[] {pos, st.length(), hole, compressed});
      }
      pos += st.length();
    }
    return runs;
  }

  private ByteBuffer[] blockStatus(Request r) throws IOException {
    int max = r.has(Nbd.CMD_FLAG_REQ_ONE) ? 1 : Export.MAX_EXTENTS;
    long[][] extents = export.extents(r.offset(), r.length(), contexts, max);
    ByteBuffer[] out = new ByteBuffer[contexts.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] =
          Replies.blockStatus(r.cookie(), i == out.length - 1, contexts.get(i).id(), extents[i]);
    }
    return out;
  }
}
