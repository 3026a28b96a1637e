package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.remote.BlockCache.Block;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link RemoteStorage}: its cache, read-ahead and parallel fetches, counted at the server. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RemoteStorageTest {
  @TempDir Path dir;
  RangeServer server;
  byte[] content;

  @BeforeEach
  void start() throws IOException {
    server = new RangeServer();
    content = new byte[(5 << 20) + 12345];
    new Random(11).nextBytes(content);
    server.put("object", Files.write(dir.resolve("object"), content));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private RemoteStorage open() throws IOException {
    return RemoteStorage.open(
        HttpRangeSource.open(server.uri("object"), HttpRangeSourceTest.FAST),
        HttpRangeSourceTest.FAST);
  }

  @Test
  void parallelRandomReadsEqualTheObjectAndFetchEachBlockOnce() throws Exception {
    long seed = System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (RemoteStorage s = open()) {
      assertEquals(content.length, s.size());
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        Random r = new Random(seed + t);
        tasks.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < 200; i++) {
                    int pos = r.nextInt(content.length);
                    ByteBuffer b = ByteBuffer.allocate(1 + r.nextInt(300_000));
                    int n = s.read(b, pos);
                    assertEquals(Math.min(b.capacity(), content.length - pos), n, "seed " + seed);
                    assertArrayEquals(
                        Arrays.copyOfRange(content, pos, pos + n),
                        Arrays.copyOf(b.array(), n),
                        "seed " + seed);
                  }
                  return null;
                }));
      }
      for (Future<?> f : tasks) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
    // Concurrent readers of a block share one fetch, and the cache holds the whole object.
    assertTrue(
        server.bytesSent.get() <= content.length + 1,
        "sent "
            + server.bytesSent.get()
            + " bytes for a "
            + content.length
            + "-byte object, seed "
            + seed);
  }

  @Test
  void aSequentialReaderIsServedAheadInLargeRequests() throws IOException {
    try (RemoteStorage s = open()) {
      ByteBuffer b = ByteBuffer.allocate(4096);
      byte[] all = new byte[content.length];
      for (int at = 0; at < content.length; at += 4096) {
        b.clear();
        int n = s.read(b, at);
        System.arraycopy(b.array(), 0, all, at, n);
      }
      assertArrayEquals(content, all);
    }
    int blocks = (content.length + 65535) / 65536;
    assertTrue(
        server.requests.get() < blocks / 3,
        server.requests.get() + " requests for " + blocks + " blocks");
    assertTrue(server.bytesSent.get() <= content.length + 1, "sent " + server.bytesSent.get());
  }

  @Test
  void readsPastTheEndStopAtIt() throws IOException {
    try (RemoteStorage s = open()) {
      ByteBuffer b = ByteBuffer.allocate(1000);
      assertEquals(345, s.read(b, content.length - 345));
      assertEquals(0, s.read(ByteBuffer.allocate(10), content.length));
      ByteBuffer z = ByteBuffer.allocate(1000);
      s.readOrZero(z, content.length - 10);
      assertArrayEquals(
          Arrays.copyOfRange(content, content.length - 10, content.length),
          Arrays.copyOf(z.array(), 10));
      assertTrue(s.isReadOnly());
      assertThrows(IOException.class, () -> s.write(ByteBuffer.allocate(1), 0));
    }
  }

  @Test
  void fiveHundredsUnderParallelReadersAreRetried() throws Exception {
    server.failEvery = 4;
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (RemoteStorage s = open()) {
      List<Future<?>> tasks = new ArrayList<>();
      int quarter = content.length / 4;
      for (int t = 0; t < 4; t++) {
        int from = t * quarter;
        int to = t == 3 ? content.length : from + quarter;
        tasks.add(
            pool.submit(
                () -> {
                  ByteBuffer b = ByteBuffer.allocate(to - from);
                  while (b.hasRemaining()) {
                    s.read(b, from + b.position());
                  }
                  assertArrayEquals(Arrays.copyOfRange(content, from, to), b.array());
                  return null;
                }));
      }
      for (Future<?> f : tasks) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aChangeInTheMiddleFailsTheRead() throws IOException {
    try (RemoteStorage s = open()) {
      s.read(ByteBuffer.allocate(100), 0);
      byte[] other = content.clone();
      other[3 << 20] ^= 1;
      server.put("object", Files.write(dir.resolve("other"), other));
      assertThrowsExactly(
          ObjectChangedException.class, () -> s.read(ByteBuffer.allocate(100), 3 << 20));
    }
  }

  @Test
  void theCacheEvictsOnlyWhatIsNotBeingFetched() {
    BlockCache cache = new BlockCache(2, 1, 8);
    Block pending = new Block();
    assertNull(cache.claim(0, pending));
    for (long b = 1; b <= 3; b++) {
      assertNull(cache.claim(b, Block.of(new byte[1])));
    }
    assertEquals(2, cache.size());
    assertSame(pending, cache.claim(0, new Block()), "a pending block stays");
    assertTrue(cache.contains(3));
  }

  @Test
  void anEvictedArrayIsUsedAgainOnlyOnceItsLastReaderIsDone() {
    BlockCache cache = new BlockCache(1, 4, 8);
    byte[] first = {1, 2, 3, 4};
    Block a = Block.of(first);
    assertNull(cache.claim(0, a));
    Block reader = cache.claim(0, new Block());
    assertSame(a, reader);
    cache.release(a); // the fetcher is done with it; the reader and the cache still hold it
    assertNull(cache.claim(1, Block.of(new byte[4])), "evicts block 0");
    assertEquals(0, cache.freeArrays(), "the reader still copies out of block 0's array");
    assertArrayEquals(new byte[] {1, 2, 3, 4}, first);
    cache.release(reader);
    assertEquals(1, cache.freeArrays());
    assertSame(first, cache.array(), "the next fetch fills the freed array");
    assertEquals(4, cache.array().length, "then new ones");
  }

  @Test
  void aFailedBlockGivesNoArrayBack() {
    BlockCache cache = new BlockCache(4, 4, 8);
    Block b = new Block();
    assertNull(cache.claim(7, b));
    cache.remove(7, b);
    b.bytes.completeExceptionally(new IOException("reset"));
    cache.release(b);
    assertEquals(0, cache.freeArrays());
    assertEquals(0, cache.size());
    cache.recycle(new byte[3]);
    assertEquals(0, cache.freeArrays(), "only whole blocks are kept");
  }

  @Test
  void readAheadGrowsWithTheRunBehindARead() {
    ReadAhead ra = new ReadAhead(64);
    assertEquals(0, ra.window(1), "a lone block is no scan");
    assertEquals(0, ra.window(2));
    assertEquals(6, ra.window(3));
    assertEquals(64, ra.window(40), "up to the limit");
    assertEquals(32, ra.longestRun());
    assertEquals(0, new ReadAhead(0).window(100), "no read-ahead asked for");
  }

  @Test
  void theCacheMeasuresRunsWithoutUsingThem() {
    BlockCache cache = new BlockCache(100, 1, 8);
    for (long b : new long[] {3, 4, 5, 7}) {
      cache.claim(b, Block.of(new byte[1]));
    }
    assertEquals(3, cache.runEndingAt(5, 10));
    assertEquals(2, cache.runEndingAt(5, 2));
    assertEquals(0, cache.runEndingAt(6, 10));
    assertEquals(1, cache.runEndingAt(7, 10));
  }
}
