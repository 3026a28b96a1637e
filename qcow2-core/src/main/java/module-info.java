/**
 * Reads and writes qcow2 disk images (and raw ones) in pure Java.
 *
 * <p>Start with {@link dev.qcow2.DiskImage#open(java.nio.file.Path)} to read any image, {@link
 * dev.qcow2.Qcow2Image} to create and write qcow2 images, {@link dev.qcow2.convert.ImageConverter}
 * to convert between formats and {@link dev.qcow2.hash.ContentHasher} to digest a virtual disk. Bad
 * images raise a {@link dev.qcow2.Qcow2Exception} naming the file, the structure and the offset.
 */
// The name follows the groupId, dev.qcow2; javac's lint would warn that it ends in a digit.
@SuppressWarnings("module")
module dev.qcow2 {
  requires com.github.luben.zstd_jni;

  // Not dev.qcow2.internal.parallel: the thread-pool habits the engines share are no API.
  exports dev.qcow2;
  exports dev.qcow2.convert;
  exports dev.qcow2.hash;
  // LUKS encryption: the options of a new header, what info tells of one, and its errors; the
  // cipher machinery stays in internal.crypto.
  exports dev.qcow2.crypto;
}
