package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Format detection: a qcow2 file starts with the magic "QFI\xfb"; anything else is raw. */
final class ImageFormat {
  private ImageFormat() {}

  static boolean isQcow2(Path path) throws IOException {
    if (WriterRegistry.isOpenForWriting(path.toRealPath())) {
      return true; // and opening it here would drop the writer's lock
    }
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(4);
      while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
        // keep reading until 4 bytes or end of file
      }
      return b.position() == 4 && b.getInt(0) == Header.MAGIC;
    }
  }
}
