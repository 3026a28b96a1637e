package dev.qcow2.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Reads and changes big-endian fields of an image file, as qemu's iotests poke_file does. */
public final class Poke {
  private Poke() {}

  public static void u8(Path file, long offset, int value) throws IOException {
    write(file, offset, ByteBuffer.allocate(1).put(0, (byte) value));
  }

  public static void u16(Path file, long offset, int value) throws IOException {
    write(file, offset, ByteBuffer.allocate(2).putShort(0, (short) value));
  }

  public static void u32(Path file, long offset, long value) throws IOException {
    write(file, offset, ByteBuffer.allocate(4).putInt(0, (int) value));
  }

  public static void u64(Path file, long offset, long value) throws IOException {
    write(file, offset, ByteBuffer.allocate(8).putLong(0, value));
  }

  public static void bytes(Path file, long offset, byte[] value) throws IOException {
    write(file, offset, ByteBuffer.wrap(value));
  }

  public static long readU64(Path file, long offset) throws IOException {
    return read(file, offset, 8).getLong(0);
  }

  public static long readU32(Path file, long offset) throws IOException {
    return Integer.toUnsignedLong(read(file, offset, 4).getInt(0));
  }

  private static ByteBuffer read(Path file, long offset, int n) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(n);
      ch.read(b, offset);
      return b;
    }
  }

  private static void write(Path file, long offset, ByteBuffer b) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(b, offset);
    }
  }
}
